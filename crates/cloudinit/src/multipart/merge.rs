//! Merging cloud-config parts as cloud-init's `cloud_config.py` handler does, with the mergers
//! of `cloudinit/mergers/` (`m_dict.py`, `m_list.py`, `m_str.py`).
//!
//! Each part is merged into what the parts before it gave (an empty mapping at first). The
//! mergers come from the part's own `merge_how` (or `merge_type`) key, which is removed from
//! the config, followed by its `Merge-Type` (or `X-Merge-Type`) header; with neither, they are
//! `dict(replace)+list()+str()`: a later part's top-level key replaces an earlier part's whole
//! value. A merge dispatches on the type of the *earlier* value: the first merger with a method
//! for it is used (`dict` for mappings, `list` for lists, `str` for strings); with none, the
//! earlier value stays.
//!
//! - `dict(OPTS)`: `replace` (a later key's value replaces the earlier one) or `no_replace`
//!   (the default: the earlier one stays, but mappings merge recursively, and lists and strings
//!   too with `recurse_array`/`recurse_list` and `recurse_str`); `allow_delete` removes a key
//!   whose later value is null.
//! - `list(OPTS)`: `append`, `prepend`, `replace` (the default: a later non-list replaces the
//!   list; a later list replaces the items at the same indexes, and the earlier list's length
//!   stays) or `no_replace`; `recurse_dict`, `recurse_array`, `recurse_str` merge items at the
//!   same index instead of replacing them.
//! - `str(append)`: strings are concatenated; otherwise the later string wins.
//!
//! One corner is not followed: `list(append)` or `list(prepend)` with a later value that is not
//! a list (Python extends the list with a string's characters or a mapping's keys); here the
//! earlier list stays.

use crate::yaml::{Mark, Node, Value};

/// One merger and its options, as `mergers.string_extract_mergers` reads them (`list(append)`
/// is `("list", ["append"])`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merger {
    /// `dict`, `list` or `str`.
    pub name: String,
    /// Its options, lower case.
    pub options: Vec<String>,
}

impl Merger {
    fn has(&self, option: &str) -> bool {
        self.options.iter().any(|o| o == option)
    }

    /// The first of `methods` among the options, or `default`.
    fn method(&self, methods: &[&'static str], default: &'static str) -> &'static str {
        methods
            .iter()
            .copied()
            .find(|m| self.has(m))
            .unwrap_or(default)
    }
}

/// cloud-init's default mergers for a part: `dict(replace)+list()+str()`.
pub fn default_mergers() -> Vec<Merger> {
    parse("dict(replace)+list()+str()").unwrap_or_default()
}

/// Reads a merge string as `mergers.string_extract_mergers` does: `+`-separated
/// `name(opt,opt)` items, names lower-cased with `-` as `_`.
///
/// # Errors
///
/// The item that is not `name(options)`, as cloud-init's `ValueError` says it.
///
/// ```
/// use reimage_cloudinit::multipart::merge::parse;
///
/// let mergers = parse("list(append)+dict(no_replace,recurse_list)+str()").unwrap();
/// assert_eq!(mergers[0].name, "list");
/// assert_eq!(mergers[1].options, ["no_replace", "recurse_list"]);
/// assert!(parse("list").is_err());
/// ```
pub fn parse(merge_how: &str) -> Result<Vec<Merger>, String> {
    let mut out = Vec::new();
    for item in merge_how.split('+') {
        let item = item.trim().to_lowercase().replace('-', "_");
        if item.is_empty() {
            continue;
        }
        let well_formed = item.find('(').filter(|&open| {
            item.ends_with(')')
                && open > 0
                && item[..open].chars().enumerate().all(|(i, c)| {
                    c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
                })
        });
        let Some(open) = well_formed else {
            return Err(format!(
                "merger {item:?} is not in the right format: write `name(options)`, such as \
                 `list(append)`"
            ));
        };
        let options = item[open + 1..item.len() - 1]
            .split(',')
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty())
            .collect();
        out.push(Merger {
            name: item[..open].to_owned(),
            options,
        });
    }
    Ok(out)
}

/// Reads the `merge_how` (or `merge_type`) value of a part, as `mergers.dict_extract_mergers`
/// does: a merge string, or a list of `{name, settings}` mappings or `[name, option…]` lists.
///
/// # Errors
///
/// What cloud-init would fail on, said for a person.
pub fn from_node(node: &Node) -> Result<Vec<Merger>, String> {
    match &node.value {
        Value::Str(s) => parse(s),
        Value::Seq(items) => {
            let mut out = Vec::new();
            for item in items {
                let (name, options) = match &item.value {
                    Value::Map(entries) => {
                        let field = |key: &str| {
                            entries
                                .iter()
                                .rev()
                                .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))
                                .map(|(_, v)| v)
                        };
                        let name = match field("name").map(|n| &n.value) {
                            Some(Value::Str(s)) => s.replace('-', "_").trim().to_owned(),
                            _ => return Err("a merge_how entry has no `name` string".to_owned()),
                        };
                        let options = match field("settings").map(|n| &n.value) {
                            Some(Value::Seq(opts)) => opts.iter().filter_map(text).collect(),
                            _ => {
                                return Err(format!(
                                    "merge_how entry {name:?} has no `settings` list"
                                ));
                            }
                        };
                        (name, options)
                    }
                    Value::Seq(parts) => {
                        let mut texts = parts.iter().filter_map(text);
                        let name = texts.next().unwrap_or_default();
                        (name, texts.collect())
                    }
                    _ => return Err("a merge_how entry is neither a mapping nor a list".to_owned()),
                };
                if !name.is_empty() {
                    out.push(Merger { name, options });
                }
            }
            Ok(out)
        }
        _ => Err("merge_how is neither a string nor a list".to_owned()),
    }
}

fn text(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        _ => None,
    }
}

/// Checks that cloud-init has a merger of each name (`m_dict`, `m_list`, `m_str`).
///
/// # Errors
///
/// The unknown name: cloud-init fails to import it and does not merge the part.
pub fn check_names(mergers: &[Merger]) -> Result<(), String> {
    match mergers
        .iter()
        .find(|m| !matches!(m.name.trim_start_matches("m_"), "dict" | "list" | "str"))
    {
        Some(m) => Err(format!(
            "cloud-init has no merger named {:?}: it does not merge this part; use dict, list \
             or str",
            m.name
        )),
        None => Ok(()),
    }
}

fn find<'a>(mergers: &'a [Merger], name: &str) -> Option<&'a Merger> {
    mergers
        .iter()
        .find(|m| m.name.trim_start_matches("m_") == name)
}

/// An empty mapping at the start of the file: what cloud-init merges the first part into.
pub fn empty() -> Node {
    Node {
        value: Value::Map(Vec::new()),
        mark: Mark {
            line: 1,
            column: 1,
            index: 0,
        },
    }
}

/// Merges `new` into `old` with `mergers`, as cloud-init's `LookupMerger.merge` does.
pub fn merge(old: Node, new: &Node, mergers: &[Merger]) -> Node {
    match &old.value {
        Value::Map(_) => match find(mergers, "dict") {
            Some(m) => on_dict(old, new, m, mergers),
            None => old,
        },
        Value::Seq(_) => match find(mergers, "list") {
            Some(m) => on_list(old, new, m, mergers),
            None => old,
        },
        Value::Str(_) => match find(mergers, "str") {
            Some(m) => on_str(old, new, m),
            None => old,
        },
        _ => old,
    }
}

fn on_dict(old: Node, new: &Node, m: &Merger, mergers: &[Merger]) -> Node {
    let Value::Map(additions) = &new.value else {
        return old;
    };
    let replace = m.method(&["replace", "no_replace"], "no_replace") == "replace";
    let recurse_str = m.has("recurse_str");
    let recurse_array = m.has("recurse_array") || m.has("recurse_list");
    let allow_delete = m.has("allow_delete");
    let mark = old.mark;
    let Value::Map(mut entries) = old.value else {
        return old;
    };
    for (key, value) in additions {
        let wanted = key.value.key_text();
        match entries
            .iter()
            .position(|(k, _)| k.value.key_text() == wanted)
        {
            Some(at) if matches!(value.value, Value::Null) && allow_delete => {
                entries.remove(at);
            }
            Some(at) => {
                let earlier = std::mem::replace(&mut entries[at].1, empty());
                entries[at].1 = if replace {
                    value.clone()
                } else {
                    match &value.value {
                        Value::Seq(_) if recurse_array => merge(earlier, value, mergers),
                        Value::Str(_) if recurse_str => merge(earlier, value, mergers),
                        Value::Map(_) => merge(earlier, value, mergers),
                        _ => earlier,
                    }
                };
            }
            None => entries.push((key.clone(), value.clone())),
        }
    }
    Node {
        value: Value::Map(entries),
        mark,
    }
}

fn on_list(old: Node, new: &Node, m: &Merger, mergers: &[Merger]) -> Node {
    let method = m.method(&["append", "prepend", "replace", "no_replace"], "replace");
    let Value::Seq(additions) = &new.value else {
        return if method == "replace" {
            new.clone()
        } else {
            old
        };
    };
    let mark = old.mark;
    let Value::Seq(mut items) = old.value else {
        return old;
    };
    match method {
        "append" => items.extend(additions.iter().cloned()),
        "prepend" => {
            let mut merged = additions.clone();
            merged.append(&mut items);
            items = merged;
        }
        "no_replace" => {}
        _ => {
            let recurse_str = m.has("recurse_str");
            let recurse_dict = m.has("recurse_dict");
            let recurse_array = m.has("recurse_array") || m.has("recurse_list");
            for (slot, value) in items.iter_mut().zip(additions) {
                let earlier = std::mem::replace(slot, empty());
                *slot = match &value.value {
                    Value::Seq(_) if recurse_array => merge(earlier, value, mergers),
                    Value::Str(_) if recurse_str => merge(earlier, value, mergers),
                    Value::Map(_) if recurse_dict => merge(earlier, value, mergers),
                    _ => value.clone(),
                };
            }
        }
    }
    Node {
        value: Value::Seq(items),
        mark,
    }
}

fn on_str(old: Node, new: &Node, m: &Merger) -> Node {
    match (&old.value, &new.value) {
        (Value::Str(a), Value::Str(b)) if m.has("append") => Node {
            value: Value::Str(format!("{a}{b}")),
            mark: old.mark,
        },
        _ => new.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn doc(text: &str) -> Node {
        yaml::parse(text)
            .expect("test YAML parses")
            .root
            .expect("test YAML has a root")
    }

    fn merged(parts: &[(&str, &str)]) -> Node {
        let mut buf = empty();
        for (text, how) in parts {
            let mergers = if how.is_empty() {
                default_mergers()
            } else {
                parse(how).expect("test merge string parses")
            };
            buf = merge(buf, &doc(text), &mergers);
        }
        buf
    }

    fn keys(node: &Node) -> Vec<String> {
        match &node.value {
            Value::Map(entries) => entries.iter().map(|(k, _)| k.value.key_text()).collect(),
            _ => Vec::new(),
        }
    }

    fn strings(node: &Node, key: &str) -> Vec<String> {
        let Value::Map(entries) = &node.value else {
            return Vec::new();
        };
        let Some((_, v)) = entries.iter().find(|(k, _)| k.value.key_text() == key) else {
            return Vec::new();
        };
        match &v.value {
            Value::Seq(items) => items.iter().filter_map(text).collect(),
            Value::Str(s) => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    #[test]
    fn by_default_a_later_key_replaces_the_whole_value() {
        let m = merged(&[
            ("runcmd: [a, b]\nhostname: one\n", ""),
            ("runcmd: [c]\npackages: [p]\n", ""),
        ]);
        assert_eq!(keys(&m), ["runcmd", "hostname", "packages"]);
        assert_eq!(strings(&m, "runcmd"), ["c"]);
    }

    #[test]
    fn list_append_concatenates_and_no_replace_keeps_the_first() {
        let m = merged(&[
            ("runcmd: [a, b]\nhostname: one\n", ""),
            (
                "runcmd: [c]\nhostname: two\n",
                "list(append)+dict(no_replace,recurse_list)+str()",
            ),
        ]);
        assert_eq!(strings(&m, "runcmd"), ["a", "b", "c"]);
        assert_eq!(strings(&m, "hostname"), ["one"]);
    }

    #[test]
    fn list_replace_keeps_the_earlier_length() {
        let m = merged(&[
            ("runcmd: [a, b, c]\n", ""),
            (
                "runcmd: [x, y, z, w]\n",
                "dict(no_replace,recurse_list)+list(replace)",
            ),
        ]);
        assert_eq!(strings(&m, "runcmd"), ["x", "y", "z"]);
        let shorter = merged(&[
            ("runcmd: [a, b, c]\n", ""),
            (
                "runcmd: [x]\n",
                "dict(no_replace,recurse_list)+list(replace)",
            ),
        ]);
        assert_eq!(strings(&shorter, "runcmd"), ["x", "b", "c"]);
    }

    #[test]
    fn merge_how_in_the_part_and_allow_delete() {
        let first = doc("packages: [a]\nhostname: one\n");
        let second = doc("hostname:\n");
        let mergers = parse("dict(replace,allow_delete)").expect("parses");
        let m = merge(
            merge(empty(), &first, &default_mergers()),
            &second,
            &mergers,
        );
        assert_eq!(keys(&m), ["packages"]);
        let listed = from_node(&doc(
            "- {name: list, settings: [append]}\n- [dict, no_replace, recurse_list]\n",
        ))
        .expect("list form parses");
        assert_eq!(listed[0].name, "list");
        assert_eq!(listed[1].options, ["no_replace", "recurse_list"]);
    }

    #[test]
    fn without_a_dict_merger_nothing_is_merged() {
        let m = merged(&[("hostname: one\n", ""), ("packages: [p]\n", "list(append)")]);
        assert_eq!(keys(&m), ["hostname"]);
        assert!(check_names(&parse("dikt()").expect("well formed")).is_err());
        assert!(check_names(&default_mergers()).is_ok());
    }

    #[test]
    fn str_append() {
        let m = merged(&[
            ("bootcmd_note: ab\n", ""),
            (
                "bootcmd_note: cd\n",
                "dict(no_replace,recurse_str)+str(append)",
            ),
        ]);
        assert_eq!(strings(&m, "bootcmd_note"), ["abcd"]);
    }
}
