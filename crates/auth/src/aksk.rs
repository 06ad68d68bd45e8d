//! TODO(helper): aksk
/// stub
pub struct AkSk;
/// stub
pub struct SignError;
