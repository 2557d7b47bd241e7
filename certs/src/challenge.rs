//! Pending ACME HTTP-01 answers, read by the proxy for `/.well-known/acme-challenge/<token>`.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

/// URL path prefix under which HTTP-01 tokens are fetched.
pub const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";

/// Where the issuer publishes HTTP-01 answers while a validation is in flight.
#[async_trait::async_trait]
pub trait ChallengeStore: Send + Sync {
    /// Publish `key_authorization` as the answer for `token`.
    fn set(&self, token: &str, key_authorization: &str);
    /// Stop answering for `token`.
    fn remove(&self, token: &str);
    /// The answer for `token`, if one is pending.
    fn get(&self, token: &str) -> Option<Arc<str>>;
    /// Makes the answers set so far visible to every replica that may receive the CA's
    /// validation request; the issuer calls it before telling the CA to validate.
    async fn flush(&self) -> Result<(), String> {
        Ok(())
    }
}

/// In-process [`ChallengeStore`]: lock-free reads for the request path, copy-on-write updates
/// (writes are a handful per issuance). Clones share the same store.
#[derive(Clone, Default, Debug)]
pub struct MemoryChallenges {
    answers: Arc<ArcSwap<HashMap<Arc<str>, Arc<str>>>>,
}

impl MemoryChallenges {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when no challenge is pending (lets the proxy skip the path check cheaply).
    pub fn is_empty(&self) -> bool {
        self.answers.load().is_empty()
    }

    /// Number of pending challenges.
    pub fn len(&self) -> usize {
        self.answers.load().len()
    }

    /// Replaces every pending answer at once (a follower mirroring the shared store).
    pub fn replace_all(&self, answers: HashMap<Arc<str>, Arc<str>>) {
        self.answers.store(Arc::new(answers));
    }

    /// A copy of every pending answer.
    pub fn all(&self) -> HashMap<Arc<str>, Arc<str>> {
        HashMap::clone(&self.answers.load())
    }

    /// The answer for a request path of the form `/.well-known/acme-challenge/<token>`.
    pub fn answer_for_path(&self, path: &str) -> Option<Arc<str>> {
        let token = path.strip_prefix(HTTP01_PREFIX)?;
        if token.is_empty() || token.contains('/') {
            return None;
        }
        self.get(token)
    }
}

#[async_trait::async_trait]
impl ChallengeStore for MemoryChallenges {
    fn set(&self, token: &str, key_authorization: &str) {
        let (token, answer): (Arc<str>, Arc<str>) =
            (Arc::from(token), Arc::from(key_authorization));
        self.answers.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.insert(Arc::clone(&token), Arc::clone(&answer));
            next
        });
    }

    fn remove(&self, token: &str) {
        self.answers.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.remove(token);
            next
        });
    }

    fn get(&self, token: &str) -> Option<Arc<str>> {
        self.answers.load().get(token).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_remove_shared_between_clones() {
        let store = MemoryChallenges::new();
        let reader = store.clone();
        assert!(reader.is_empty());
        store.set("tok1", "tok1.thumb");
        store.set("tok2", "tok2.thumb");
        assert_eq!(reader.get("tok1").as_deref(), Some("tok1.thumb"));
        assert_eq!(reader.len(), 2);
        assert_eq!(
            reader
                .answer_for_path("/.well-known/acme-challenge/tok2")
                .as_deref(),
            Some("tok2.thumb")
        );
        assert_eq!(reader.answer_for_path("/.well-known/acme-challenge/"), None);
        assert_eq!(
            reader.answer_for_path("/.well-known/acme-challenge/tok2/x"),
            None
        );
        assert_eq!(reader.answer_for_path("/other/tok2"), None);
        store.remove("tok1");
        assert_eq!(reader.get("tok1"), None);
        assert_eq!(reader.get("tok2").as_deref(), Some("tok2.thumb"));
        store.remove("tok2");
        assert!(reader.is_empty());
    }
}
