//! The Account Lockdown stage.
