//! TODO(helper): iam
/// stub
pub struct Token;
