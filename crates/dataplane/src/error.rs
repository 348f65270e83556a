//! Owns the engine's error type and its stable codes (the binding prefixes messages with
//! them: `E_DEVICE: ...`). Must not carry policy or retry logic.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// Bad configuration value (`E_CONFIG`).
    Config(String),
    /// Could not open or configure the TUN/TAP device (`E_DEVICE`).
    Device(String),
    /// Unparseable or unusable address (`E_ADDR`).
    Addr(String),
    /// UDP socket setup or send failure (`E_SOCKET`).
    Socket(String),
    /// Unknown peer id (`E_PEER`).
    Peer(String),
    /// Peer has no usable session or endpoint (`E_SESSION`).
    Session(String),
    /// A frame handed to the engine is unusable, e.g. wrong length (`E_FRAME`).
    Frame(String),
    /// Engine already closed (`E_CLOSED`).
    Closed,
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config(_) => "E_CONFIG",
            Error::Device(_) => "E_DEVICE",
            Error::Addr(_) => "E_ADDR",
            Error::Socket(_) => "E_SOCKET",
            Error::Peer(_) => "E_PEER",
            Error::Session(_) => "E_SESSION",
            Error::Frame(_) => "E_FRAME",
            Error::Closed => "E_CLOSED",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m)
            | Error::Device(m)
            | Error::Addr(m)
            | Error::Socket(m)
            | Error::Peer(m)
            | Error::Session(m)
            | Error::Frame(m) => {
                write!(f, "{}: {}", self.code(), m)
            }
            Error::Closed => write!(f, "E_CLOSED: engine is closed"),
        }
    }
}

impl std::error::Error for Error {}
