//! The end-to-end suites: the real `farmd` binary against the real MediaWiki, MariaDB, SMTP
//! server and Chromium. One test binary, so they build and link once and run side by side
//! (`cargo test --test e2e -- portal::` runs one suite).

mod common;

mod accounts;
mod api;
mod backups;
mod cache;
mod exports;
mod ldap;
mod maintenance;
mod managers;
mod mariadb;
mod oidc;
mod openapi;
mod package;
mod portal;
mod production;
mod scale;
mod security;
mod settings;
mod sign_on;
mod starters;
mod trash;
mod upgrades;
mod wikis;
