//! TODO(helper): edis
/// stub
pub struct EdisCredentials;
/// stub
pub struct EdisSession;
