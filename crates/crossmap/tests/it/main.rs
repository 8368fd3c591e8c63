//! Integration tests of the `crossmap` facade: the test emulator as a user's test meets it.

mod emulator;
mod first_hour;
mod readme;
