//! The domain core of farmd.
//!
//! Everything that decides what a wiki farm *is* lives here: the rules for names and
//! fields ([`domain`]), the registry ([`store`]), the provisioning pipeline that drives each
//! wiki's resources to the wanted state ([`provision`]), and the MediaWiki integration
//! ([`mediawiki`], [`php`]). The HTTP layer (`farm-api`) and the portal (`farm-web`) are thin
//! adapters over [`Farm`]; neither implements a rule of its own.

pub mod accounts;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod farm;
pub mod fsutil;
pub mod layout;
pub mod lifecycle;
pub mod mail;
pub mod mariadb;
pub mod mediawiki;
pub mod php;
pub mod pool;
pub mod provision;
pub mod ratelimit;
pub mod requests;
pub mod secrets;
pub mod store;
pub mod throttle;

pub use config::Config;
pub use error::FarmError;
pub use farm::Farm;
