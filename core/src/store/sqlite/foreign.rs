//! Another SQLite library in the same process writing passgate's file.
//!
//! SQLite locks with POSIX record locks, which belong to the *process*: two copies of SQLite in
//! one process (passgate bundles its own; CPython's `sqlite3` module links the system's) never
//! see each other's locks — each copy only knows the locks it took itself. So while, say,
//! Python's `sqlite3` holds the WAL write lock, passgate's `BEGIN IMMEDIATE` succeeds too, both
//! append to the WAL from the same frame, and whichever commits last overwrites the other: the
//! review saw five signed `allow`s vanish this way, with integrity check and chain verification
//! still passing.
//!
//! An *open file description* lock probe does see them: `F_OFD_GETLK` reports a conflicting
//! POSIX lock even when this process holds it. A WAL writer locks byte 120 of the `-shm` file
//! (`WAL_WRITE_LOCK`, the first of SQLite's shm lock bytes) for the whole write transaction. The
//! store probes that byte, while holding its own in-process write lock (so none of passgate's own
//! connections is writing), before `BEGIN` and after `COMMIT`: a lock owned by this process's pid
//! is a foreign writer. (Another *process*'s lock shows its own pid and is handled by SQLite's
//! ordinary locking.)
//!
//! What it cannot see: a foreign writer that both begins and commits inside passgate's own
//! transaction (between the two probes, about 100 µs). Its `BEGIN` would have to come after
//! passgate's, and its commit before passgate's second probe. The rule stays: do not write
//! passgate's file with another SQLite library.
//!
//! The probe file is opened once per `-shm` file (by device and inode) and never closed: closing
//! any descriptor of a file drops *all* of this process's POSIX locks on it, SQLite's included.

use std::io;

/// The `-shm` byte a WAL writer holds for its whole transaction (os_unix.c: `UNIX_SHM_BASE`
/// 120 + `WAL_WRITE_LOCK` 0).
pub const WAL_WRITE_LOCK_BYTE: i64 = 120;

/// Whether another SQLite library in this process holds the WAL write lock of the database at
/// `db_path`. `Ok(false)` where it cannot be checked (no `-shm` file yet: nobody has the
/// database open in WAL mode; a platform without OFD locks).
pub fn wal_writer_in_this_process(db_path: &str) -> io::Result<bool> {
    imp::writer_pid(&format!("{db_path}-shm")).map(|pid| pid == Some(std::process::id()))
}

#[cfg(target_os = "linux")]
mod imp {
    use std::collections::HashMap;
    use std::fs::File;
    use std::os::unix::fs::MetadataExt;
    use std::sync::{Arc, OnceLock};

    use parking_lot::Mutex;

    use nix::fcntl::{fcntl, FcntlArg};
    use nix::libc;

    use super::*;

    /// The probe descriptors, by (device, inode) of the `-shm` file: opened once, never closed.
    type Probes = Mutex<HashMap<(u64, u64), Arc<File>>>;

    fn probes() -> &'static Probes {
        static PROBES: OnceLock<Probes> = OnceLock::new();
        PROBES.get_or_init(|| Mutex::new(HashMap::new()))
    }

    fn probe_for(shm: &str) -> io::Result<Option<Arc<File>>> {
        let meta = match std::fs::metadata(shm) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let key = (meta.dev(), meta.ino());
        let mut probes = probes().lock();
        if let Some(f) = probes.get(&key) {
            return Ok(Some(Arc::clone(f)));
        }
        let file = Arc::new(File::open(shm)?);
        // The inode we opened must be the one we stat'ed (the file may have been replaced).
        let opened = file.metadata()?;
        if (opened.dev(), opened.ino()) != key {
            return Ok(None);
        }
        probes.insert(key, Arc::clone(&file));
        Ok(Some(file))
    }

    /// The pid owning a POSIX lock on the write byte, if any (`-1` for an OFD lock).
    pub fn writer_pid(shm: &str) -> io::Result<Option<u32>> {
        let Some(file) = probe_for(shm)? else {
            return Ok(None);
        };
        let mut lock = libc::flock {
            l_type: libc::F_WRLCK as libc::c_short,
            l_whence: libc::SEEK_SET as libc::c_short,
            l_start: WAL_WRITE_LOCK_BYTE,
            l_len: 1,
            l_pid: 0,
        };
        fcntl(&*file, FcntlArg::F_OFD_GETLK(&mut lock)).map_err(io::Error::from)?;
        if lock.l_type == libc::F_UNLCK as libc::c_short {
            return Ok(None);
        }
        Ok(u32::try_from(lock.l_pid).ok())
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::*;

    /// Not checked off Linux (no OFD locks in the same form).
    pub fn writer_pid(_shm: &str) -> io::Result<Option<u32>> {
        Ok(None)
    }
}
