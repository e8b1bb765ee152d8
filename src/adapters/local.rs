//! Local stand-ins for SES and Cognito, for `make demo` and `make replay` on a machine with no AWS
//! account: a mailbox folder that receives each email as a text file, and a JSON file of user
//! attributes. They implement the same ports as the AWS adapters; the Lambda binary never builds
//! them, so a misconfigured deployment cannot write codes to disk.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::domain::policy::UserRef;
use crate::ports::{
    ChallengeStore, DeliveryError, FailureKind, Mailer, OutgoingEmail, Snapshot, StateWrite,
    StoreError, Stored, Version,
};

/// Writes each email to `<dir>/<n>.eml`, a plain-text rendering with headers.
#[derive(Debug)]
pub struct LocalMailbox {
    dir: PathBuf,
    from: String,
    // Serialises numbering within the process.
    lock: Mutex<()>,
}

impl LocalMailbox {
    /// A mailbox in `dir` (created if missing), with `from` as the sender header.
    pub fn new(dir: impl Into<PathBuf>, from: String) -> Self {
        Self {
            dir: dir.into(),
            from,
            lock: Mutex::new(()),
        }
    }

    /// The messages delivered so far, oldest first, as their file contents.
    pub fn messages(&self) -> io::Result<Vec<String>> {
        let mut files: Vec<(u64, PathBuf)> = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter_map(|p| Some((p.file_stem()?.to_str()?.parse().ok()?, p.clone())))
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        files.sort();
        files
            .into_iter()
            .map(|(_, p)| std::fs::read_to_string(p))
            .collect()
    }

    fn deliver(&self, email: &OutgoingEmail<'_>) -> io::Result<PathBuf> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        std::fs::create_dir_all(&self.dir)?;
        let n = self.messages()?.len() + 1;
        let path = self.dir.join(format!("{n}.eml"));
        let body = format!(
            "From: {}\nTo: {}\nSubject: {}\n\n{}",
            self.from,
            email.to.as_str(),
            email.rendered.subject,
            email.rendered.text
        );
        write_atomically(&path, body.as_bytes())?;
        Ok(path)
    }
}

impl Mailer for LocalMailbox {
    async fn send(&self, email: &OutgoingEmail<'_>) -> Result<(), DeliveryError> {
        // The message file is written atomically: a failed write delivered nothing.
        self.deliver(email).map(|_| ()).map_err(|e| DeliveryError {
            kind: FailureKind::Rejected,
            detail: format!("local mailbox: {e}"),
        })
    }
}

type Users = BTreeMap<String, BTreeMap<String, String>>;

/// User attributes in a JSON file: `{"<pool>/<username>": {"<attribute>": "<value>"}}`.
#[derive(Debug)]
pub struct LocalUserStore {
    path: PathBuf,
    attribute: String,
    lock: Mutex<()>,
}

impl LocalUserStore {
    /// A store in the file `path`, writing the challenge state to `attribute`.
    pub fn new(path: impl Into<PathBuf>, attribute: String) -> Self {
        Self {
            path: path.into(),
            attribute,
            lock: Mutex::new(()),
        }
    }

    fn key(pool_id: &str, username: &str) -> String {
        format!("{pool_id}/{username}")
    }

    fn load(&self) -> io::Result<Users> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Users::new()),
            Err(e) => Err(e),
        }
    }

    fn save(&self, users: &Users) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let json = serde_json::to_vec_pretty(users).map_err(io::Error::other)?;
        write_atomically(&self.path, &json)
    }

    /// A user's attributes, as Cognito would put them in `userAttributes`; `None` for an unknown user.
    pub fn attributes(
        &self,
        pool_id: &str,
        username: &str,
    ) -> io::Result<Option<BTreeMap<String, String>>> {
        Ok(self.load()?.remove(&Self::key(pool_id, username)))
    }

    /// Creates or replaces a user with `attributes`.
    pub fn put_user(
        &self,
        pool_id: &str,
        username: &str,
        attributes: BTreeMap<String, String>,
    ) -> io::Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut users = self.load()?;
        users.insert(Self::key(pool_id, username), attributes);
        self.save(&users)
    }
}

impl ChallengeStore for LocalUserStore {
    /// Like the Cognito attribute it stands in for: no conditional write.
    const CONDITIONAL: bool = false;

    async fn write(
        &self,
        write: &StateWrite<'_>,
        _expected: Version,
    ) -> Result<Stored, StoreError> {
        let fail = |kind, detail: String| StoreError { kind, detail };
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut users = self
            .load()
            .map_err(|e| fail(FailureKind::Unavailable, format!("local store: {e}")))?;
        let Some(attrs) = users.get_mut(&Self::key(write.user.pool_id, write.user.username)) else {
            return Err(fail(
                FailureKind::Rejected,
                "UserNotFoundException: User does not exist.".into(),
            ));
        };
        attrs.insert(self.attribute.clone(), write.encoded.to_owned());
        if let Some(email) = write.verified_email {
            attrs.insert("email".into(), email.as_str().to_owned());
            attrs.insert("email_verified".into(), "true".into());
        }
        self.save(&users)
            .map(|()| Stored::Written)
            .map_err(|e| fail(FailureKind::Unavailable, format!("local store: {e}")))
    }

    async fn read(&self, user: UserRef<'_>) -> Result<Snapshot, StoreError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let users = self.load().map_err(|e| StoreError {
            kind: FailureKind::Unavailable,
            detail: format!("local store: {e}"),
        })?;
        match users.get(&Self::key(user.pool_id, user.username)) {
            Some(attrs) => Ok(Snapshot {
                encoded: attrs.get(&self.attribute).cloned(),
                version: Version::Unchecked,
            }),
            None => Err(StoreError {
                kind: FailureKind::Rejected,
                detail: "UserNotFoundException: User does not exist.".into(),
            }),
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}
