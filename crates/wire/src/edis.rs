//! TODO(helper): edis
