//! `passgate policy lint`: compile policy files; report each error at its line and column.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{out, read_text, CliResult, Fail, Format, Io};
use crate::json::{self, Limits};
use crate::policy::Policy;

/// One lint finding.
struct Finding {
    line: usize,
    column: usize,
    path: String,
    code: String,
    message: String,
}

pub(super) fn lint(files: &[PathBuf], format: Format, io: &mut Io<'_>) -> CliResult {
    let mut results = Vec::new();
    let mut failed = false;
    for file in files {
        let text = read_text(file)?;
        let finding = check(&text);
        failed |= finding.is_some();
        results.push((file, finding));
    }
    match format {
        Format::Text => {
            for (file, f) in &results {
                let line = match f {
                    None => format!("{}: ok", file.display()),
                    Some(f) => format!(
                        "{}:{}:{}: error[{}] at {}: {}",
                        file.display(),
                        f.line,
                        f.column,
                        f.code,
                        f.path,
                        f.message
                    ),
                };
                out(io, &line)?;
            }
        }
        Format::Json => {
            let v: Vec<Value> = results
                .iter()
                .map(|(file, f)| file_json(file, f.as_ref()))
                .collect();
            out(io, &Value::Array(v).to_string())?;
        }
    }
    if failed {
        Err(Fail::silent(1))
    } else {
        Ok(())
    }
}

fn file_json(file: &Path, f: Option<&Finding>) -> Value {
    let errors: Vec<Value> = f
        .map(|f| {
            json!({"line": f.line, "column": f.column, "path": f.path, "code": f.code,
                   "message": f.message})
        })
        .into_iter()
        .collect();
    json!({"file": file.display().to_string(), "ok": errors.is_empty(), "errors": errors})
}

/// The first error of the policy in `text`, if any.
fn check(text: &str) -> Option<Finding> {
    let doc = match json::parse(text, Limits::POLICY) {
        Ok(v) => v,
        Err(e) => {
            // A duplicate key is reported at its object; the finding points at the key itself.
            let key_path = match &e {
                json::JsonError::DuplicateKey { path, key } => Some(format!(
                    "{path}/{}",
                    key.replace('~', "~0").replace('/', "~1")
                )),
                _ => None,
            };
            let err = e.into_error(json::Context::Policy);
            let err = match key_path {
                Some(p) => crate::Error::policy(p, err.detail()),
                None => err,
            };
            // Syntax errors: the parser's own position.
            let (line, column) = match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Err(se) if se.line() > 0 => (se.line(), se.column()),
                _ => position_of(text, err.path().unwrap_or("/")),
            };
            return Some(finding(&err, line, column));
        }
    };
    match Policy::from_value(doc) {
        Ok(_) => None,
        Err(err) => {
            let (line, column) = position_of(text, err.path().unwrap_or("/"));
            Some(finding(&err, line, column))
        }
    }
}

fn finding(err: &crate::Error, line: usize, column: usize) -> Finding {
    Finding {
        line,
        column,
        path: err.path().unwrap_or("/").to_string(),
        code: err.code().to_string(),
        message: err.detail(),
    }
}

/// The 1-based line and column, in `text`, of the JSON value at `pointer` — or of the deepest
/// value on its way that exists (a missing key points at its object).
pub(super) fn position_of(text: &str, pointer: &str) -> (usize, usize) {
    let target: Vec<String> = pointer
        .split('/')
        .skip(1)
        .filter(|s| !s.is_empty())
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut s = Scanner {
        bytes: text.as_bytes(),
        pos: 0,
    };
    let offset = s.find(&target).unwrap_or(0);
    line_col(text, offset)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A lenient walker over JSON text (the text already parsed, or failed to only on semantics).
struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// The offset of the value at `target` below the value starting here (after whitespace),
    /// or of the deepest existing one on the way.
    fn find(&mut self, target: &[String]) -> Option<usize> {
        self.ws();
        let start = self.pos;
        let Some((key, rest)) = target.split_first() else {
            return Some(start);
        };
        match self.peek()? {
            b'{' => {
                self.pos += 1;
                loop {
                    self.ws();
                    match self.peek()? {
                        b'}' => return Some(start),
                        b',' => {
                            self.pos += 1;
                            continue;
                        }
                        b'"' => {}
                        _ => return Some(start),
                    }
                    let key_at = self.pos;
                    let k = self.string()?;
                    self.ws();
                    if self.peek()? != b':' {
                        return Some(key_at);
                    }
                    self.pos += 1;
                    if &k == key {
                        if rest.is_empty() {
                            // The member: point at its key, where a reader looks.
                            return Some(key_at);
                        }
                        return self.find(rest);
                    }
                    self.skip()?;
                }
            }
            b'[' => {
                self.pos += 1;
                let want: usize = key.parse().ok()?;
                let mut i = 0;
                loop {
                    self.ws();
                    match self.peek()? {
                        b']' => return Some(start),
                        b',' => {
                            self.pos += 1;
                            continue;
                        }
                        _ => {}
                    }
                    if i == want {
                        return self.find(rest);
                    }
                    self.skip()?;
                    i += 1;
                }
            }
            _ => Some(start),
        }
    }

    /// Reads a string (at its opening quote) and returns it unescaped (simple escapes only).
    fn string(&mut self) -> Option<String> {
        self.pos += 1;
        let from = self.pos;
        let mut escaped = false;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    let raw = self.bytes.get(from..self.pos - 1)?;
                    let raw = std::str::from_utf8(raw).ok()?;
                    let quoted = format!("\"{raw}\"");
                    return serde_json::from_str(&quoted).ok().or(Some(raw.to_string()));
                }
                _ => {}
            }
        }
        None
    }

    /// Skips one value.
    fn skip(&mut self) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0usize;
                while let Some(b) = self.peek() {
                    match b {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
                None
            }
            _ => {
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.pos += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn positions_of_pointers() {
        let text =
            "{\n  \"version\": 1,\n  \"gates\": {\n    \"a/b\": {\"require\": [\"x\", 5]}\n  }\n}";
        assert_eq!(position_of(text, "/"), (1, 1));
        assert_eq!(position_of(text, "/version"), (2, 3));
        assert_eq!(position_of(text, "/gates/a~1b"), (4, 5));
        assert_eq!(position_of(text, "/gates/a~1b/require/1"), (4, 30));
        // A missing key: its object.
        assert_eq!(position_of(text, "/gates/a~1b/missing"), (4, 12));
        assert_eq!(position_of(text, "/nope"), (1, 1));
    }

    #[test]
    fn syntax_and_semantic_errors() {
        let f = check("{\"version\": 1,\n \"gates\": }").unwrap();
        assert_eq!((f.line, f.code.as_str()), (2, "POLICY_INVALID"));
        let f = check("{\"version\": 1, \"version\": 2}").unwrap();
        assert_eq!(f.code, "POLICY_INVALID");
        assert_eq!(f.path, "/version");
        assert!(check("{\"version\": 1, \"gates\": {}}").is_none());
    }
}
