//! A fixed-size bitset over `0..len`: the one the collectors use for "seen" and "admitted"
//! sets (tantivy's own is not public).

/// Bits `0..len`, all clear at first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bits {
    words: Vec<u64>,
}

impl Bits {
    pub(crate) fn new(len: usize) -> Bits {
        Bits { words: vec![0; len.div_ceil(64)] }
    }

    /// Sets bit `at`; returns whether it was clear. Out of range: nothing, `false`.
    pub(crate) fn insert(&mut self, at: usize) -> bool {
        let bit = 1u64 << (at % 64);
        match self.words.get_mut(at / 64) {
            Some(word) if *word & bit == 0 => {
                *word |= bit;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn contains(&self, at: usize) -> bool {
        self.words.get(at / 64).is_some_and(|word| word & (1 << (at % 64)) != 0)
    }

    /// The set bits in increasing order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(index, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                Some(index * 64 + bit)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_report_novelty_and_iterate_in_order() {
        let mut bits = Bits::new(130);
        assert!(bits.insert(129) && bits.insert(0) && bits.insert(64));
        assert!(!bits.insert(64), "already set");
        assert!(!bits.insert(192), "out of range");
        assert!(bits.contains(129) && !bits.contains(1) && !bits.contains(500));
        assert_eq!(bits.iter().collect::<Vec<_>>(), vec![0, 64, 129]);
    }
}
