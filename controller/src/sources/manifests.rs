//! The manifests source: a directory of YAML files (multi-document) holding the same kinds the
//! cluster would. A file that does not parse is reported with its name and line, and its last
//! good content keeps serving.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::snapshot::{Object, Snapshot};

/// A manifest that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A document is not valid YAML or not a valid object of its kind.
    #[error("{file}: line {line}: {message}")]
    Parse {
        /// The file.
        file: PathBuf,
        /// 1-based line in the file where the problem is (or where its document starts).
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// The directory could not be listed.
    #[error("{dir}: cannot list: {source}")]
    List {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl ManifestError {
    /// The file (or directory) the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Read { file, .. } | Self::Parse { file, .. } => file,
            Self::List { dir, .. } => dir,
        }
    }
}

/// Parses an object of a supported kind from JSON; `Ok(None)` for kinds gatehouse ignores.
pub fn parse_value(v: Value) -> Result<Object, String> {
    let kind = v
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let api = v
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    fn de<T: DeserializeOwned + kube::Resource>(v: Value) -> Result<T, String> {
        let mut object: T = serde_json::from_value(v).map_err(|e| e.to_string())?;
        crate::snapshot::strip_unused(object.meta_mut());
        Ok(object)
    }
    match (api.as_str(), kind.as_str()) {
        ("networking.k8s.io/v1", "IngressClass") => {
            de(v).map(|o| Object::IngressClass(Arc::new(o)))
        }
        ("networking.k8s.io/v1", "Ingress") => de(v).map(|o| Object::Ingress(Arc::new(o))),
        ("v1", "Service") => de::<Service>(v).map(Object::from),
        ("discovery.k8s.io/v1", "EndpointSlice") => de::<EndpointSlice>(v).map(Object::from),
        ("v1", "Secret") => de(v).map(|o| Object::Secret(Arc::new(o))),
        _ => Err(format!("unsupported kind {api}/{kind}")),
    }
}

/// True for kinds this source reads; other kinds in a manifest are skipped quietly.
fn is_supported(api: &str, kind: &str) -> bool {
    matches!(
        (api, kind),
        ("networking.k8s.io/v1", "IngressClass" | "Ingress")
            | ("v1", "Service" | "Secret")
            | ("discovery.k8s.io/v1", "EndpointSlice")
    )
}

/// Parses one file's text into objects; the first bad document fails the whole file.
pub fn parse_file(file: &Path, text: &str) -> Result<Vec<Object>, ManifestError> {
    let mut objects = Vec::new();
    for (start_line, doc) in split_documents(text) {
        let err = |line: usize, message: String| ManifestError::Parse {
            file: file.to_path_buf(),
            line,
            message,
        };
        let yaml: serde_yaml::Value = serde_yaml::from_str(doc).map_err(|e| {
            let line = e.location().map_or(0, |l| l.line().saturating_sub(1));
            err(start_line + line, e.to_string())
        })?;
        if yaml.is_null() {
            continue;
        }
        let api = yaml
            .get("apiVersion")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let kind = yaml.get("kind").and_then(|v| v.as_str()).unwrap_or("");
        if api.is_empty() || kind.is_empty() {
            return Err(err(start_line, "document has no apiVersion or kind".into()));
        }
        if kind == "List" {
            let items = yaml
                .get("items")
                .cloned()
                .unwrap_or(serde_yaml::Value::Null);
            let items: Vec<Value> =
                serde_yaml::from_value(items).map_err(|e| err(start_line, e.to_string()))?;
            for item in items {
                push_value(item, &mut objects).map_err(|m| err(start_line, m))?;
            }
            continue;
        }
        if !is_supported(api, kind) {
            tracing::debug!(file = %file.display(), line = start_line, "skipping {api}/{kind}");
            continue;
        }
        // Deserialise from the text so type errors carry a line number.
        let object = parse_typed(api, kind, doc).map_err(|e| {
            let line = e.location().map_or(0, |l| l.line().saturating_sub(1));
            err(start_line + line, format!("{kind}: {e}"))
        })?;
        objects.push(object);
    }
    Ok(objects)
}

fn push_value(item: Value, objects: &mut Vec<Object>) -> Result<(), String> {
    let api = item.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = item.get("kind").and_then(Value::as_str).unwrap_or("");
    if is_supported(api, kind) {
        objects.push(parse_value(item)?);
    }
    Ok(())
}

fn parse_typed(api: &str, kind: &str, doc: &str) -> Result<Object, serde_yaml::Error> {
    fn de<T: DeserializeOwned + kube::Resource>(doc: &str) -> Result<Arc<T>, serde_yaml::Error> {
        let mut object: T = serde_yaml::from_str(doc)?;
        crate::snapshot::strip_unused(object.meta_mut());
        Ok(Arc::new(object))
    }
    Ok(match (api, kind) {
        (_, "IngressClass") => Object::IngressClass(de(doc)?),
        (_, "Ingress") => Object::Ingress(de(doc)?),
        (_, "Service") => Object::from(serde_yaml::from_str::<Service>(doc)?),
        (_, "EndpointSlice") => Object::from(serde_yaml::from_str::<EndpointSlice>(doc)?),
        _ => Object::Secret(de(doc)?),
    })
}

/// Splits multi-document YAML at `---` lines, returning each document with its 1-based first line.
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let mut start_byte = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") {
            docs.push((start_line, &text[start_byte..offset]));
            start_byte = offset + line.len();
            start_line = i + 2;
        }
        offset += line.len();
    }
    docs.push((start_line, &text[start_byte..]));
    docs.into_iter()
        .filter(|(_, d)| !d.trim().is_empty())
        .collect()
}

/// True for files this source reads.
fn is_manifest(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'));
    !hidden
        && matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        )
}

struct FileState {
    /// Size, modification time and inode: unchanged means the file need not be read again.
    stamp: Option<(u64, std::time::SystemTime, u64)>,
    content_hash: u64,
    objects: Vec<Object>,
    /// Each object's [`ObjectKeys::hash`], in order.
    keys: Vec<u64>,
}

fn stamp(path: &Path) -> Option<(u64, std::time::SystemTime, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?, meta.ino()))
}

/// Reads a manifests directory and remembers each file's last good content.
pub struct ManifestDir {
    dirs: Vec<PathBuf>,
    files: HashMap<PathBuf, FileState>,
    keys: ObjectKeys,
}

/// How many objects of all files hash to each (kind, namespace, name), kept as files come and
/// go: while no two share a hash, no object is defined twice and a snapshot need not look at
/// the objects' names (at 50k Ingresses, hashing them was most of a snapshot's time).
#[derive(Default)]
struct ObjectKeys {
    hasher: foldhash::fast::RandomState,
    counts: foldhash::HashMap<u64, u32>,
    /// Hashes counted more than once (a duplicate object, or rarely two names colliding).
    shared: usize,
}

impl ObjectKeys {
    fn hash(&self, object: &Object) -> u64 {
        let (namespace, name) = object.key();
        let key = (object.kind(), namespace, name);
        std::hash::BuildHasher::hash_one(&self.hasher, key)
    }

    fn add(&mut self, keys: &[u64]) {
        for key in keys {
            let count = self.counts.entry(*key).or_default();
            *count += 1;
            if *count == 2 {
                self.shared += 1;
            }
        }
    }

    fn remove(&mut self, keys: &[u64]) {
        for key in keys {
            if let Some(count) = self.counts.get_mut(key) {
                *count -= 1;
                if *count == 1 {
                    self.shared -= 1;
                }
                if *count == 0 {
                    self.counts.remove(key);
                }
            }
        }
    }
}

/// The outcome of one scan.
pub struct Scan {
    /// True when any file's objects changed since the previous scan.
    pub changed: bool,
    /// Files that could not be used this time (their last good content is kept).
    pub errors: Vec<ManifestError>,
}

impl ManifestDir {
    /// A reader for `dir` (nothing is read yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dirs: vec![dir.into()],
            files: HashMap::new(),
            keys: ObjectKeys::default(),
        }
    }

    /// Also reads `dir` (e.g. the state directory where issued certificates are written).
    pub fn with_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dirs.push(dir.into());
        self
    }

    /// The directories being read.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Re-reads the directory (recursively, skipping hidden entries).
    pub fn scan(&mut self) -> Scan {
        let mut errors = Vec::new();
        let mut found = Vec::new();
        for dir in &self.dirs {
            if dir.exists() || dir == &self.dirs[0] {
                collect_files(dir, &mut found, &mut errors);
            }
        }
        let mut changed = false;
        let before = self.files.len();
        let keys = &mut self.keys;
        self.files.retain(|p, f| {
            let keep = found.contains(p);
            if !keep {
                keys.remove(&f.keys);
            }
            keep
        });
        changed |= self.files.len() != before;
        for path in found {
            let stamp = stamp(&path);
            if stamp.is_some() && self.files.get(&path).is_some_and(|f| f.stamp == stamp) {
                continue;
            }
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(source) => {
                    errors.push(ManifestError::Read { file: path, source });
                    continue;
                }
            };
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            text.hash(&mut hasher);
            let content_hash = hasher.finish();
            if let Some(state) = self
                .files
                .get_mut(&path)
                .filter(|f| f.content_hash == content_hash)
            {
                state.stamp = stamp;
                continue;
            }
            match parse_file(&path, &text) {
                Ok(objects) => {
                    let keys: Vec<u64> = objects.iter().map(|o| self.keys.hash(o)).collect();
                    self.keys.add(&keys);
                    let state = FileState {
                        stamp,
                        content_hash,
                        objects,
                        keys,
                    };
                    if let Some(old) = self.files.insert(path, state) {
                        self.keys.remove(&old.keys);
                    }
                    changed = true;
                }
                Err(e) => errors.push(e),
            }
        }
        Scan { changed, errors }
    }

    /// The objects of every file's last good content. When two files define the same object,
    /// the one in the first file (by path) wins.
    pub fn snapshot(&self) -> Snapshot {
        let mut paths: Vec<&PathBuf> = self.files.keys().collect();
        paths.sort();
        if self.keys.shared == 0 {
            // No object is defined twice: every object goes in, without reading its name.
            let mut snapshot = Snapshot::default();
            for path in paths {
                for object in &self.files[path].objects {
                    snapshot.push(object.clone());
                }
            }
            return snapshot;
        }
        // Borrowed keys: building a snapshot of 10k objects allocates no strings for this.
        let mut seen: foldhash::HashSet<(&str, &str, &str)> = foldhash::HashSet::default();
        let mut snapshot = Snapshot::default();
        for path in paths {
            for object in &self.files[path].objects {
                let (namespace, name) = object.key();
                let key = (object.kind(), namespace, name);
                if !seen.insert(key) {
                    tracing::warn!(file = %path.display(), "{} {}/{} defined twice; the first definition wins", object.kind(), key.1, key.2);
                    continue;
                }
                snapshot.push(object.clone());
            }
        }
        snapshot
    }
}

/// The manifest files under `dir` (recursive, sorted, hidden entries skipped), as a scan reads
/// them; the first directory that cannot be listed is the error.
pub fn manifest_files(dir: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    collect_files(dir, &mut files, &mut errors);
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(files),
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<ManifestError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(source) => {
            errors.push(ManifestError::List {
                dir: dir.to_path_buf(),
                source,
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, out, errors);
        } else if is_manifest(&path) {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_files_recurse_sorted_and_skip_hidden() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for rel in [
            "b.yaml",
            "a/c.yml",
            ".hidden/d.yaml",
            "a/.e.yaml",
            "notes.txt",
        ] {
            let path = root.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(&path, "").expect("write");
        }
        let files = manifest_files(root).expect("lists");
        assert_eq!(files, [root.join("a/c.yml"), root.join("b.yaml")]);
        let missing = manifest_files(&root.join("missing"));
        assert!(matches!(missing, Err(ManifestError::List { .. })));
    }

    #[test]
    fn multi_document_files_parse_and_skip_other_kinds() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n---\n\
                    apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\n---\n\
                    apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: internal}\n";
        let objs = parse_file(Path::new("x.yaml"), text).expect("parses");
        let kinds: Vec<_> = objs.iter().map(Object::kind).collect();
        assert_eq!(kinds, ["Service", "IngressClass"]);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n";
        let err = parse_file(Path::new("dir/bad.yaml"), text).expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.starts_with("dir/bad.yaml: line "), "{msg}");
        let ManifestError::Parse { line, .. } = err else {
            panic!("parse error expected")
        };
        assert!(
            (5..=9).contains(&line),
            "line {line} should point into the second document"
        );

        let typed = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: a}\nspec:\n  rules: 5\n";
        let msg = parse_file(Path::new("t.yaml"), typed)
            .expect_err("type error")
            .to_string();
        assert!(msg.contains("t.yaml: line 5"), "{msg}");
    }

    #[test]
    fn a_broken_file_keeps_its_last_good_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("svc.yaml");
        std::fs::write(
            &file,
            "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n",
        )
        .expect("write");
        let mut m = ManifestDir::new(dir.path());
        let scan = m.scan();
        assert!(scan.changed && scan.errors.is_empty());
        assert_eq!(m.snapshot().services.len(), 1);

        std::fs::write(&file, "apiVersion: v1\nkind: Service\nmetadata: [\n").expect("write");
        let scan = m.scan();
        assert!(!scan.changed);
        assert_eq!(scan.errors.len(), 1);
        assert!(scan.errors[0].to_string().contains("svc.yaml"));
        assert_eq!(scan.errors[0].path(), file, "the error names its file");
        assert_eq!(
            m.snapshot().services.len(),
            1,
            "last good content still served"
        );

        std::fs::remove_file(&file).expect("remove");
        assert!(m.scan().changed);
        assert!(m.snapshot().services.is_empty());
    }

    /// A Service of `port` named `name`.
    fn service(name: &str, port: u16) -> String {
        format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  ports:\n  - port: {port}\n")
    }

    fn ports(dir: &ManifestDir) -> Vec<(String, i32)> {
        dir.snapshot()
            .services
            .iter()
            .map(|s| (s.name.to_string(), s.ports.first().map_or(0, |p| p.port)))
            .collect()
    }

    /// The first file (in path order) keeps an object defined twice, whether the duplicate
    /// arrives, is edited away or its file goes; without duplicates every object is in.
    #[test]
    fn an_object_defined_twice_is_taken_from_the_first_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let write =
            |file: &str, text: &str| std::fs::write(tmp.path().join(file), text).expect("write");
        let mut dir = ManifestDir::new(tmp.path());
        write("a.yaml", &service("web", 80));
        write("b.yaml", &service("api", 81));
        dir.scan();
        assert_eq!(ports(&dir), [("web".into(), 80), ("api".into(), 81)]);

        write(
            "b.yaml",
            &format!("{}---\n{}", service("api", 81), service("web", 90)),
        );
        assert!(dir.scan().changed);
        assert_eq!(
            ports(&dir),
            [("web".into(), 80), ("api".into(), 81)],
            "a.yaml's web wins"
        );
        write("0.yaml", &service("api", 70));
        dir.scan();
        assert_eq!(
            ports(&dir),
            [("api".into(), 70), ("web".into(), 80)],
            "0.yaml's api wins"
        );

        std::fs::remove_file(tmp.path().join("0.yaml")).expect("remove");
        write("b.yaml", &service("web", 90));
        dir.scan();
        assert_eq!(ports(&dir), [("web".into(), 80)], "still defined twice");
        std::fs::remove_file(tmp.path().join("a.yaml")).expect("remove");
        dir.scan();
        assert_eq!(ports(&dir), [("web".into(), 90)], "b.yaml's web, alone now");
        assert_eq!(dir.keys.shared, 0);
    }
}
