//! Tapline: a host for utility connection portals. One process serves many
//! tenants (utilities), each described by a folder under `tenants/`.
//!
//! The binary (`main.rs`) is a thin shell over [`server`]; tests build the
//! same server in-process.

pub mod account;
pub mod appeal;
pub mod application;
pub mod content;
pub mod document;
pub mod notify;
pub mod office;
pub mod plugin;
pub mod security;
pub mod server;
pub mod signing;
pub mod store;
pub mod tenant;
pub mod web;
pub mod workflow;
