//! "Did you mean": the closest known name to a misspelt one, for argument and policy errors.

/// The closest of `candidates` to `word` (a typo's likely intent), if close enough.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance over chars counting a swap of two neighbours as one edit (optimal string
/// alignment): `feild` is one edit from `field`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    let at = |d: &[usize], i: usize, j: usize| d.get(i * w + j).copied().unwrap_or(usize::MAX / 2);
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            let v = if i == 0 || j == 0 {
                i.max(j)
            } else {
                let cost = usize::from(a.get(i - 1) != b.get(j - 1));
                let mut v = (at(&d, i - 1, j) + 1)
                    .min(at(&d, i, j - 1) + 1)
                    .min(at(&d, i - 1, j - 1) + cost);
                if i > 1 && j > 1 && a.get(i - 1) == b.get(j - 2) && a.get(i - 2) == b.get(j - 1) {
                    v = v.min(at(&d, i - 2, j - 2) + 1);
                }
                v
            };
            if let Some(slot) = d.get_mut(i * w + j) {
                *slot = v;
            }
        }
    }
    at(&d, a.len(), b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_find_typos_and_nothing_far() {
        let keys = ["field", "limit", "gate"];
        assert_eq!(closest("feild", keys.iter().copied()), Some("field"));
        assert_eq!(closest("limt", keys.iter().copied()), Some("limit"));
        assert_eq!(closest("zzzzzz", keys.iter().copied()), None);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
