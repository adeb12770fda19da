pub mod bot;
pub mod crm;
pub mod db;
pub mod sim;
