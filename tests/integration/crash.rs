//! SIGKILL crash-restart of the real binary (being written).
