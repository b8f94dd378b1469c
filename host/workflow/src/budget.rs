//! The size check a definition passes before it is deserialised.
//!
//! YAML aliases can make a small text expand into a huge value (an anchor of
//! a thousand items aliased a thousand times is a million values). This pass
//! walks the document as the deserialiser would see it, aliases expanded,
//! keeping nothing, and stops as soon as the value budget or the nesting
//! limit is passed, so that the real deserialisation only ever sees a
//! document of bounded size.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::{Limits, ParseError};

/// Walk `text` with aliases expanded; refuse it when it holds more values or
/// deeper nesting than `limits` allow.
pub fn check(text: &str, limits: &Limits) -> Result<(), ParseError> {
    let mut budget = Budget {
        values: 0,
        max_values: limits.max_values,
        max_depth: limits.max_depth,
    };
    let de = serde_yaml_ng::Deserializer::from_str(text);
    Walk {
        budget: &mut budget,
        depth: 0,
    }
    .deserialize(de)
    .map_err(|e| ParseError::yaml(&e))
}

struct Budget {
    values: usize,
    max_values: usize,
    max_depth: usize,
}

/// One value at `depth`; visiting it counts it and everything inside it.
struct Walk<'b> {
    budget: &'b mut Budget,
    depth: usize,
}

impl Walk<'_> {
    fn count<E: de::Error>(&mut self) -> Result<(), E> {
        self.budget.values += 1;
        if self.budget.values > self.budget.max_values {
            return Err(E::custom(format!(
                "the definition holds more than {} values once YAML aliases are expanded \
                 (engine.workflows.max_values)",
                self.budget.max_values
            )));
        }
        Ok(())
    }

    fn inner<E: de::Error>(&mut self) -> Result<Walk<'_>, E> {
        if self.depth + 1 > self.budget.max_depth {
            return Err(E::custom(format!(
                "the definition nests lists and maps deeper than {} levels \
                 (engine.workflows.max_depth)",
                self.budget.max_depth
            )));
        }
        Ok(Walk {
            budget: self.budget,
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

macro_rules! scalars {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(fn $method<E: de::Error>(mut self, _: $ty) -> Result<(), E> {
            self.count()
        })*
    };
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML or JSON value")
    }

    scalars! {
        visit_bool: bool, visit_i64: i64, visit_i128: i128, visit_u64: u64, visit_u128: u128,
        visit_f64: f64, visit_str: &str, visit_bytes: &[u8],
    }

    fn visit_unit<E: de::Error>(mut self) -> Result<(), E> {
        self.count()
    }

    fn visit_none<E: de::Error>(mut self) -> Result<(), E> {
        self.count()
    }

    fn visit_some<D: Deserializer<'de>>(mut self, d: D) -> Result<(), D::Error> {
        self.count()?;
        let inner = self.inner()?;
        inner.deserialize(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(mut self, d: D) -> Result<(), D::Error> {
        self.count()?;
        let inner = self.inner()?;
        inner.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.count()?;
        let mut inner = self.inner()?;
        while seq.next_element_seed(inner.reborrow())?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.count()?;
        let mut inner = self.inner()?;
        while map.next_key_seed(inner.reborrow())?.is_some() {
            map.next_value_seed(inner.reborrow())?;
        }
        Ok(())
    }

    fn visit_enum<A: de::EnumAccess<'de>>(mut self, data: A) -> Result<(), A::Error> {
        // YAML tags (`!name value`) arrive as enums; count the tag and its value.
        self.count()?;
        let inner = self.inner()?;
        let (_, variant) = data.variant_seed(WalkTag)?;
        de::VariantAccess::newtype_variant_seed(variant, inner)
    }
}

impl Walk<'_> {
    fn reborrow(&mut self) -> Walk<'_> {
        Walk {
            budget: self.budget,
            depth: self.depth,
        }
    }
}

/// A tag's name, which needs no budget of its own.
struct WalkTag;

impl<'de> DeserializeSeed<'de> for WalkTag {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        de::IgnoredAny::deserialize(d).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(values: usize, depth: usize) -> Limits {
        Limits {
            max_values: values,
            max_depth: depth,
            ..Limits::default()
        }
    }

    #[test]
    fn counts_aliases_as_the_values_they_expand_to() {
        let text = "a: &x [1, 2, 3, 4]\nb: [*x, *x, *x]\n";
        // 1 map + 2 keys + (1 list + 4) + (1 list + 3 * 5) = 24 values.
        assert!(check(text, &limits(24, 8)).is_ok());
        let e = check(text, &limits(23, 8)).unwrap_err();
        assert!(e.message.contains("more than 23 values"), "{e}");
        assert!(e.message.contains("max_values"), "{e}");
    }

    #[test]
    fn stops_a_billion_laughs_early() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            let refs = vec![format!("*a{prev}"); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let started = std::time::Instant::now();
        let e = check(&text, &Limits::default()).unwrap_err();
        assert!(e.message.contains("values"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn refuses_deep_nesting() {
        let deep = format!("{}1{}", "[".repeat(10), "]".repeat(10));
        assert!(check(&deep, &limits(1000, 10)).is_ok());
        let e = check(&deep, &limits(1000, 9)).unwrap_err();
        assert!(e.message.contains("deeper than 9 levels"), "{e}");
    }

    #[test]
    fn tags_are_counted_not_refused() {
        assert!(check("a: !custom [1, 2]\n", &limits(100, 8)).is_ok());
    }
}
