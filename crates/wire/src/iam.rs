//! TODO(helper): iam
