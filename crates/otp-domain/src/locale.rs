//! The language of the code email: a BCP 47 tag from the user's `locale` attribute, resolved
//! against the locales on offer (the bundled messages, or the operator's SES templates).
//!
//! The attribute is outside input: anyone who can sign up can set it to anything. Whatever it
//! holds (missing, empty, malformed, 10,000 characters), resolution ends on an offered locale or
//! the default, never on an error.

use std::fmt;

/// The longest tag looked at. RFC 5646 asks implementations to support at least 35 characters;
/// anything longer is treated as malformed (and so gets the default).
pub const MAX_TAG_LEN: usize = 35;

/// A well-formed language tag in its canonical case: language lower case, a four-letter script
/// in title case, a two-letter region upper case (`pt-BR`, `zh-Hant-TW`, `ja`). `_` is accepted
/// as a separator (`pt_BR`, as some platforms write it) and written as `-`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Locale(String);

impl Locale {
    /// Parses a tag: 2 or 3 letters of language, then subtags of 1 to 8 letters or digits.
    /// `None` for anything else.
    pub fn parse(tag: &str) -> Option<Self> {
        let tag = tag.trim();
        // (An empty tag fails below: its one subtag is empty.)
        if tag.len() > MAX_TAG_LEN {
            return None;
        }
        let mut parts = Vec::new();
        for (i, sub) in tag.split(['-', '_']).enumerate() {
            let alpha = sub.bytes().all(|b| b.is_ascii_alphabetic());
            if sub.is_empty() || sub.len() > 8 || !sub.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return None;
            }
            if i == 0 && !(alpha && (2..=3).contains(&sub.len())) {
                return None;
            }
            parts.push(match sub.len() {
                2 if i > 0 && alpha => sub.to_ascii_uppercase(),
                // Only a later subtag can have 4 letters: the language has 2 or 3.
                4 if alpha => {
                    let lower = sub.to_ascii_lowercase();
                    lower[..1].to_ascii_uppercase() + &lower[1..]
                }
                _ => sub.to_ascii_lowercase(),
            });
        }
        Some(Self(parts.join("-")))
    }

    /// The tag, canonical.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The primary language subtag (`pt` for `pt-BR`).
    pub fn language(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }

    /// The tag and each shorter prefix of it, longest first: `zh-Hant-TW`, `zh-Hant`, `zh`.
    fn prefixes(&self) -> impl Iterator<Item = &str> {
        let s = self.0.as_str();
        std::iter::once(s).chain(s.rmatch_indices('-').map(move |(i, _)| &s[..i]))
    }
}

impl fmt::Debug for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Locale({})", self.0)
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Picks the locale for `requested` (the raw attribute value, if any) among `offered`:
/// the tag itself, then each shorter prefix of it (`de-AT` → `de`), then another offered locale
/// of the same language (`pt-PT` or `pt` → `pt-BR`, when that is the Portuguese on offer), then
/// `default`. A missing or malformed value gets `default`.
pub fn resolve<'a>(
    requested: Option<&str>,
    offered: &'a [Locale],
    default: &'a Locale,
) -> &'a Locale {
    let Some(wanted) = requested.and_then(Locale::parse) else {
        return default;
    };
    wanted
        .prefixes()
        .find_map(|p| offered.iter().find(|l| l.as_str() == p))
        .or_else(|| offered.iter().find(|l| l.language() == wanted.language()))
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn l(s: &str) -> Locale {
        Locale::parse(s).unwrap()
    }

    fn offered() -> Vec<Locale> {
        ["en", "de", "fr", "es", "pt-BR", "ja"].map(l).to_vec()
    }

    #[test]
    fn tags_are_parsed_into_canonical_case() {
        assert_eq!(l("pt-br").as_str(), "pt-BR");
        assert_eq!(l(" PT_br ").as_str(), "pt-BR");
        assert_eq!(l("zh-hant-tw").as_str(), "zh-Hant-TW");
        assert_eq!(l("es-419").as_str(), "es-419");
        assert_eq!(l("EN").as_str(), "en");
        assert_eq!(l("de-CH-1996").as_str(), "de-CH-1996");
        assert_eq!(l("pt-BR").language(), "pt");
        for bad in [
            "",
            " ",
            "e",
            "english",
            "1a",
            "de--AT",
            "de-",
            "-de",
            "de AT",
            "de-ABCDEFGHI",
            "dé",
            "de-\nAT",
            "de;q=0.9",
            "de,en",
        ] {
            assert_eq!(Locale::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Locale::parse(&"a".repeat(10_000)), None);
        // Subtags up to 8 characters; only letters change case, 4 letters being a script.
        assert_eq!(l("de-abcdefgh").as_str(), "de-abcdefgh");
        assert_eq!(l("de-AB12").as_str(), "de-ab12");
        // Tags up to 35 characters.
        let longest = "de-Latn-AT-abcdefgh-abcdefgh-abcdef";
        assert_eq!(longest.len(), MAX_TAG_LEN);
        assert_eq!(l(longest).as_str(), "de-Latn-AT-abcdefgh-abcdefgh-abcdef");
        assert_eq!(Locale::parse(&format!("{longest}g")), None);
        assert_eq!(format!("{:?}", l("pt-br")), "Locale(pt-BR)");
        assert_eq!(Locale::parse(&format!("de-{}", "a-".repeat(20))), None);
    }

    #[test]
    fn resolution_falls_back_from_region_to_language_to_the_default() {
        let offered = offered();
        let en = l("en");
        let r = |s: Option<&str>| resolve(s, &offered, &en).as_str().to_owned();
        assert_eq!(r(Some("de")), "de");
        assert_eq!(r(Some("de-AT")), "de");
        assert_eq!(r(Some("ja-JP")), "ja");
        assert_eq!(r(Some("pt-BR")), "pt-BR");
        assert_eq!(r(Some("pt_br")), "pt-BR");
        assert_eq!(r(Some("pt-PT")), "pt-BR", "the Portuguese on offer");
        assert_eq!(r(Some("pt")), "pt-BR");
        assert_eq!(r(Some("fr-CA")), "fr");
        assert_eq!(r(Some("es-419")), "es");
        assert_eq!(r(Some("zh-Hant-TW")), "en");
        for bad in [
            None,
            Some(""),
            Some("not a locale"),
            Some(&"x".repeat(10_000)[..]),
        ] {
            assert_eq!(r(bad), "en", "{bad:?}");
        }
        // An exact match beats a same-language one.
        let both = [l("pt-PT"), l("pt-BR")];
        assert_eq!(resolve(Some("pt-BR"), &both, &en).as_str(), "pt-BR");
        assert_eq!(resolve(Some("pt-PT"), &both, &en).as_str(), "pt-PT");
        assert_eq!(
            resolve(Some("pt-AO"), &both, &en).as_str(),
            "pt-PT",
            "the first offered"
        );
        // The default need not be English.
        let de = l("de");
        assert_eq!(resolve(Some("ko"), &offered, &de).as_str(), "de");
    }

    proptest! {
        /// Whatever the attribute holds, the result is an offered locale or the default, and it
        /// is the default only when no offered locale shares the tag's language.
        #[test]
        fn any_attribute_resolves_to_an_offered_locale_or_the_default(
            s in prop_oneof![
                ".{0,64}",
                "[a-zA-Z]{2,3}([-_][a-zA-Z0-9]{1,8}){0,4}",
                "(en|de|fr|es|pt|ja|zh|it)([-_](BR|PT|AT|CH|JP|us|Hant|419)){0,2}",
            ]
        ) {
            let offered = offered();
            let default = l("en");
            let got = resolve(Some(&s), &offered, &default);
            prop_assert!(offered.contains(got));
            match Locale::parse(&s) {
                None => prop_assert_eq!(got.as_str(), "en"),
                Some(p) => {
                    let same_language = offered.iter().any(|o| o.language() == p.language());
                    if same_language {
                        prop_assert_eq!(got.language(), p.language());
                    } else {
                        prop_assert_eq!(got.as_str(), "en");
                    }
                    // An offered tag asked for exactly is the one given.
                    if offered.contains(&p) {
                        prop_assert_eq!(got, &p);
                    }
                }
            }
        }
    }
}
