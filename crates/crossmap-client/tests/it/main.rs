//! Integration tests of `crossmap-client`: every call against the emulator in-process, and the
//! resilience rules against servers that misbehave on purpose.

mod echo;
mod emulator;
mod faults;
mod throttle;
