//! TODO(helper): ecs
