//! The "did you mean" of an unknown key: the known key nearest to it by edit distance. The config
//! file's errors use it, and so does the fleet plan of `reimage-fleet`, so the two suggest alike.

/// The key of `known` nearest to `key` by edit distance (insertions, deletions and substitutions
/// of characters), if it is near enough to be a typo: at most 2 edits, or a quarter of the known
/// key's length if that is more. A key equal to a known one is no typo and gives `None`; of two
/// keys equally near, the first in `known` wins.
///
/// ```
/// use reimage_config::text::closest;
///
/// const KEYS: &[&str] = &["ecs_endpoint", "edis_email", "region"];
/// assert_eq!(closest("regoin", KEYS), Some("region"));
/// assert_eq!(closest("edis_mail", KEYS), Some("edis_email"));
/// assert_eq!(closest("zone", KEYS), None);
/// assert_eq!(closest("region", KEYS), None);
/// ```
pub fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d > 0 && *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The Levenshtein distance between `a` and `b`, counted in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_table() {
        let cases = [
            ("", "", 0),
            ("", "abc", 3),
            ("abc", "", 3),
            ("image", "image", 0),
            ("imgae", "image", 2),
            ("imag", "image", 1),
            ("images", "image", 1),
            ("ímage", "image", 1),
            ("kitten", "sitting", 3),
        ];
        for (a, b, d) in cases {
            assert_eq!(edit_distance(a, b), d, "{a:?} {b:?}");
            assert_eq!(edit_distance(b, a), d, "{b:?} {a:?}");
        }
    }

    #[test]
    fn closest_is_near_enough_and_first_of_equals() {
        let known = ["reinstall", "change-os"];
        assert_eq!(closest("reinstal", &known), Some("reinstall"));
        assert_eq!(closest("changeos", &known), Some("change-os"));
        assert_eq!(closest("reboot", &known), None);
        assert_eq!(closest("reinstall", &known), None);
        assert_eq!(closest("x", &[]), None);
        // Both are one edit away: the first wins.
        assert_eq!(closest("ab", &["aa", "bb"]), Some("aa"));
        // A long key allows a quarter of its length: 3 edits for 12 characters, not 4.
        assert_eq!(
            closest("ecs_endXXXnt", &["ecs_endpoint"]),
            Some("ecs_endpoint")
        );
        assert_eq!(closest("ecs_endXXXXt", &["ecs_endpoint"]), None);
    }
}
