//! The email that carries a code: subject, plain text and HTML, in the user's language, with the
//! app's name and, for passwordless sign-in, a one-click link.
//!
//! This is the only place the plaintext code is turned into text. The rendered message goes
//! straight to the mailer and is not logged or stored. Values from configuration (the app's name,
//! a custom subject, the link's base) are checked when the configuration is read and escaped here
//! again: a value is never trusted to be markup-free because it passed a check elsewhere.

use std::fmt;
use std::sync::LazyLock;

use super::code::OtpCode;
use super::locale::Locale;

/// The subject used when `EMAIL_SUBJECT` is not set and there is no app name, in English.
pub const DEFAULT_SUBJECT: &str = "Your sign-in code";

/// The bundled locales, in the order they are documented.
pub const BUNDLED: [&str; 6] = ["en", "de", "fr", "es", "pt-BR", "ja"];

/// The bundled locales, parsed once.
pub fn bundled_locales() -> &'static [Locale] {
    static PARSED: LazyLock<Vec<Locale>> = LazyLock::new(|| {
        BUNDLED
            .iter()
            .map(|t| Locale::parse(t).expect("bundled tags are well formed"))
            .collect()
    });
    &PARSED
}

/// A rendered message. Its `Debug` output omits the bodies, which hold the code.
pub struct RenderedEmail {
    /// Subject line (one line: no control characters).
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

impl fmt::Debug for RenderedEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderedEmail").finish_non_exhaustive()
    }
}

/// Whole minutes of validity for the message, rounded up so "valid for 0 minutes" never appears.
pub fn validity_minutes(ttl_seconds: u32) -> u32 {
    ttl_seconds.div_ceil(60)
}

/// `APP_NAME`: one line of at most [`AppName::MAX_CHARS`] characters, shown in the subject and
/// body. It may hold any other character (`Müller & Söhne`, `<b>`): the HTML escapes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppName(String);

impl AppName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 64;

    /// Accepts a non-blank name without control characters, trimmed.
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim();
        let ok = !name.is_empty()
            && name.chars().count() <= Self::MAX_CHARS
            && !name.chars().any(|c| c.is_control() || is_line_break(c));
        ok.then(|| Self(name.to_owned()))
    }

    /// The name as configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `SIGN_IN_LINK_URL`: the page a one-click link opens. `https://`, or `http://` on the loopback
/// host for local use; no fragment of its own (the link's fragment carries the answer), and none
/// of the characters that would need escaping in an attribute or break a plain-text link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkBase(String);

impl LinkBase {
    /// The longest base accepted.
    pub const MAX_LEN: usize = 1024;

    /// Checks `url`; `None` if it is not acceptable.
    pub fn parse(url: &str) -> Option<Self> {
        let url = url.trim();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://").filter(|r| is_loopback(r)))?;
        let host = rest.split(['/', '?']).next().unwrap_or_default();
        let ok = url.len() <= Self::MAX_LEN
            && !host.is_empty()
            && !host.contains('@')
            && url.bytes().all(|b| b.is_ascii_graphic())
            && !url.contains(['#', '"', '\'', '<', '>', '`', '\\', '{', '}', '|', '^']);
        ok.then(|| Self(url.to_owned()))
    }

    /// The base as configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_loopback(rest: &str) -> bool {
    let host_port = rest.split(['/', '?']).next().unwrap_or_default();
    let host = host_port
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host_port, |(h, _)| h);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// A one-click sign-in link: the page, then a fragment with the username, the code and when it
/// expires (`#username=…&code=…&expiresAt=…`). A fragment is never sent to a server, so it
/// reaches no access log, and a mail scanner that fetches the page runs none of its script.
/// It holds the code: `Debug` does not show it.
pub struct SignInLink(String);

impl SignInLink {
    /// The link to `base` for `username` answering with `code`, valid until `expires_at`.
    pub fn new(base: &LinkBase, username: &str, code: &OtpCode, expires_at: u32) -> Self {
        Self(format!(
            "{}#username={}&code={}&expiresAt={expires_at}",
            base.as_str(),
            percent_encode(username),
            code.expose_digits()
        ))
    }

    /// The URL, for the email and template data only.
    pub fn expose_url(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SignInLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignInLink(<redacted>)")
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a username with `&`, `#`,
/// `=`, spaces or non-ASCII letters survives the fragment intact (`decodeURIComponent` undoes it).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What goes into one code email.
#[derive(Debug, Clone, Copy)]
pub struct Email<'a> {
    /// The resolved locale (see [`crate::locale::resolve`]); a locale with no bundled messages
    /// renders in English.
    pub locale: &'a Locale,
    /// `APP_NAME`, if set.
    pub app_name: Option<&'a AppName>,
    /// `EMAIL_SUBJECT`, if set: replaces the bundled subject in every locale.
    pub subject: Option<&'a str>,
    /// `EMAIL_CODE_IN_SUBJECT`: the code is also put in the subject.
    pub code_in_subject: bool,
    /// The code.
    pub code: &'a OtpCode,
    /// Its validity in whole minutes.
    pub minutes: u32,
    /// A one-click sign-in link (passwordless sign-ins only).
    pub link: Option<&'a SignInLink>,
}

/// The bundled wording of one locale. `{app}`, `{code}` and `{minutes}` are filled in once, in a
/// single pass, so a value that itself contains `{code}` is never expanded.
struct Texts {
    /// The HTML `lang`.
    lang: &'static str,
    subject: &'static str,
    subject_app: &'static str,
    subject_code: &'static str,
    subject_code_app: &'static str,
    intro: &'static str,
    intro_app: &'static str,
    valid_one: &'static str,
    valid_many: &'static str,
    link_lead: &'static str,
    link_label: &'static str,
    ignore: &'static str,
}

const EN: Texts = Texts {
    lang: "en",
    subject: DEFAULT_SUBJECT,
    subject_app: "Your {app} sign-in code",
    subject_code: "{code} is your sign-in code",
    subject_code_app: "{code} is your {app} sign-in code",
    intro: "Your sign-in code is:",
    intro_app: "Your {app} sign-in code is:",
    valid_one: "It is valid for 1 minute and can be used only once.",
    valid_many: "It is valid for {minutes} minutes and can be used only once.",
    link_lead: "Or sign in with one click:",
    link_label: "Sign in",
    ignore: "If you didn't try to sign in, you can ignore this email. Never share this code with anyone: we will never ask you for it.",
};

const DE: Texts = Texts {
    lang: "de",
    subject: "Ihr Anmeldecode",
    subject_app: "Ihr Anmeldecode für {app}",
    subject_code: "{code} ist Ihr Anmeldecode",
    subject_code_app: "{code} ist Ihr Anmeldecode für {app}",
    intro: "Ihr Anmeldecode lautet:",
    intro_app: "Ihr Anmeldecode für {app} lautet:",
    valid_one: "Der Code ist 1 Minute lang gültig und kann nur einmal verwendet werden.",
    valid_many: "Der Code ist {minutes} Minuten lang gültig und kann nur einmal verwendet werden.",
    link_lead: "Oder melden Sie sich mit einem Klick an:",
    link_label: "Anmelden",
    ignore: "Falls Sie nicht versucht haben, sich anzumelden, können Sie diese E-Mail ignorieren. Geben Sie diesen Code niemals weiter – wir werden Sie nie danach fragen.",
};

const FR: Texts = Texts {
    lang: "fr",
    subject: "Votre code de connexion",
    subject_app: "Votre code de connexion à {app}",
    subject_code: "{code} est votre code de connexion",
    subject_code_app: "{code} est votre code de connexion à {app}",
    intro: "Votre code de connexion est\u{a0}:",
    intro_app: "Votre code de connexion à {app} est\u{a0}:",
    valid_one: "Il est valable 1\u{a0}minute et ne peut être utilisé qu’une seule fois.",
    valid_many: "Il est valable {minutes}\u{a0}minutes et ne peut être utilisé qu’une seule fois.",
    link_lead: "Ou connectez-vous en un clic\u{a0}:",
    link_label: "Se connecter",
    ignore: "Si vous n’avez pas tenté de vous connecter, vous pouvez ignorer cet e-mail. Ne communiquez ce code à personne\u{a0}: nous ne vous le demanderons jamais.",
};

const ES: Texts = Texts {
    lang: "es",
    subject: "Tu código de inicio de sesión",
    subject_app: "Tu código de inicio de sesión en {app}",
    subject_code: "{code} es tu código de inicio de sesión",
    subject_code_app: "{code} es tu código de inicio de sesión en {app}",
    intro: "Tu código de inicio de sesión es:",
    intro_app: "Tu código de inicio de sesión en {app} es:",
    valid_one: "Es válido durante 1 minuto y solo se puede usar una vez.",
    valid_many: "Es válido durante {minutes} minutos y solo se puede usar una vez.",
    link_lead: "O inicia sesión con un solo clic:",
    link_label: "Iniciar sesión",
    ignore: "Si no intentaste iniciar sesión, puedes ignorar este correo. No compartas este código con nadie: nunca te lo pediremos.",
};

const PT_BR: Texts = Texts {
    lang: "pt-BR",
    subject: "Seu código de acesso",
    subject_app: "Seu código de acesso ao {app}",
    subject_code: "{code} é o seu código de acesso",
    subject_code_app: "{code} é o seu código de acesso ao {app}",
    intro: "Seu código de acesso é:",
    intro_app: "Seu código de acesso ao {app} é:",
    valid_one: "Este código é válido por 1 minuto e só pode ser usado uma vez.",
    valid_many: "Este código é válido por {minutes} minutos e só pode ser usado uma vez.",
    link_lead: "Ou entre com um clique:",
    link_label: "Entrar",
    ignore: "Se não foi você quem tentou entrar, pode ignorar este e-mail. Nunca compartilhe este código com ninguém: nós nunca vamos pedi-lo a você.",
};

const JA: Texts = Texts {
    lang: "ja",
    subject: "サインインコードのお知らせ",
    subject_app: "【{app}】サインインコードのお知らせ",
    subject_code: "サインインコード：{code}",
    subject_code_app: "【{app}】サインインコード：{code}",
    intro: "サインインコードは次のとおりです。",
    intro_app: "{app} のサインインコードは次のとおりです。",
    valid_one: "このコードの有効期限は1分です。一度だけ使用できます。",
    valid_many: "このコードの有効期限は{minutes}分です。一度だけ使用できます。",
    link_lead: "または、次のリンクからワンクリックでサインインできます。",
    link_label: "サインイン",
    ignore: "サインインにお心当たりがない場合は、このメールを破棄してください。このコードは誰にも教えないでください。当社からコードをお尋ねすることはありません。",
};

fn texts(locale: &Locale) -> &'static Texts {
    match locale.as_str() {
        "de" => &DE,
        "fr" => &FR,
        "es" => &ES,
        "pt-BR" => &PT_BR,
        "ja" => &JA,
        _ => &EN,
    }
}

/// Fills `{name}` placeholders from `values` in one pass: a filled-in value is not scanned again.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}').and_then(|end| {
            values
                .iter()
                .find(|(k, _)| *k == &after[..end])
                .map(|(_, v)| (end, v))
        }) {
            Some((end, v)) => {
                out.push_str(v);
                rest = &after[end + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}')
}

/// One line: control characters and line separators become spaces, so no value can start a
/// new header.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || is_line_break(c) {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// Renders `email` in its locale.
pub fn render(email: &Email<'_>) -> RenderedEmail {
    let t = texts(email.locale);
    let digits = email.code.expose_digits();
    let minutes = email.minutes.to_string();
    let app = email.app_name.map(AppName::as_str);
    let values = [
        ("app", app.unwrap_or_default()),
        ("code", digits),
        ("minutes", minutes.as_str()),
    ];
    let subject = match (email.subject, app, email.code_in_subject) {
        (Some(custom), _, false) => custom.to_owned(),
        (Some(custom), _, true) => format!("{digits} {custom}"),
        (None, None, false) => t.subject.to_owned(),
        (None, Some(_), false) => fill(t.subject_app, &values),
        (None, None, true) => fill(t.subject_code, &values),
        (None, Some(_), true) => fill(t.subject_code_app, &values),
    };
    let subject = one_line(&subject);
    let intro = fill(if app.is_some() { t.intro_app } else { t.intro }, &values);
    let valid = fill(
        if email.minutes == 1 {
            t.valid_one
        } else {
            t.valid_many
        },
        &values,
    );

    let mut text = format!("{intro}\n\n    {digits}\n\n{valid}\n\n");
    if let Some(link) = email.link {
        text.push_str(&format!("{}\n{}\n\n", t.link_lead, link.expose_url()));
    }
    text.push_str(t.ignore);
    text.push('\n');

    // Everything from configuration is escaped; the code is digits and the minutes a number.
    let link_html = email.link.map_or_else(String::new, |link| {
        format!(
            "<p style=\"margin:0 0 8px\">{lead}</p>\
             <p style=\"margin:0 0 24px\"><a href=\"{href}\" style=\"display:inline-block;\
             padding:12px 24px;background:#1f5fbf;color:#ffffff;text-decoration:none;\
             border-radius:6px;font-weight:bold\">{label}</a></p>",
            lead = escape_html(t.link_lead),
            href = escape_html(link.expose_url()),
            label = escape_html(t.link_label),
        )
    });
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head>\
         <body style=\"margin:0;padding:24px;background:#ffffff;color:#1a1a1a;\
         font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:16px;\
         line-height:1.5\"><div style=\"max-width:480px\">\
         <p style=\"margin:0 0 8px\">{intro}</p>\
         <p style=\"margin:0 0 16px;font-size:32px;letter-spacing:6px;font-weight:bold;\
         font-family:ui-monospace,Menlo,Consolas,monospace\">{digits}</p>\
         <p style=\"margin:0 0 24px\">{valid}</p>{link_html}\
         <p style=\"margin:0;color:#555555;font-size:14px\">{ignore}</p>\
         </div></body></html>",
        lang = t.lang,
        title = escape_html(&subject),
        intro = escape_html(&intro),
        valid = escape_html(&valid),
        ignore = escape_html(t.ignore),
    );
    RenderedEmail {
        subject,
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code() -> OtpCode {
        OtpCode::from_digits("482913").unwrap()
    }

    fn email<'a>(locale: &'a Locale, code: &'a OtpCode) -> Email<'a> {
        Email {
            locale,
            app_name: None,
            subject: None,
            code_in_subject: false,
            code,
            minutes: 5,
            link: None,
        }
    }

    /// Every bundled locale: the code and the minutes in both bodies, the HTML in the right
    /// language, a one-line subject without the code, the "if this wasn't you" line, and the
    /// app's name where it is set.
    #[test]
    fn every_locale_renders_code_minutes_and_warning() {
        let code = code();
        let app = AppName::parse("Acme").unwrap();
        for locale in bundled_locales() {
            let t = texts(locale);
            assert_eq!(t.lang, locale.as_str());
            for (minutes, valid) in [(5, t.valid_many), (1, t.valid_one)] {
                let m = render(&Email {
                    minutes,
                    ..email(locale, &code)
                });
                let valid = fill(valid, &[("minutes", &minutes.to_string())]);
                assert!(valid.contains(&minutes.to_string()), "{locale}: {valid}");
                for body in [&m.text, &m.html] {
                    assert!(body.contains("482913"), "{locale}");
                    assert!(body.contains(&escape_html(&valid)) || body.contains(&valid));
                }
                assert!(m.text.contains(t.ignore), "{locale}");
                assert!(m.html.contains(&escape_html(t.ignore)), "{locale}");
                assert!(
                    m.html
                        .starts_with(&format!("<!doctype html><html lang=\"{locale}\">"))
                );
                assert!(!m.html.contains("<img") && !m.html.contains("<script"));
                assert_eq!(m.subject, t.subject);
                assert!(!m.subject.contains("482913"));
                assert!(!m.subject.contains(['\r', '\n']));
            }
            let named = render(&Email {
                app_name: Some(&app),
                ..email(locale, &code)
            });
            assert!(
                named.subject.contains("Acme"),
                "{locale}: {}",
                named.subject
            );
            assert!(
                named.text.contains("Acme") && named.html.contains("Acme"),
                "{locale}"
            );
            assert!(!named.subject.contains("{app}") && !named.text.contains('{'));
        }
        // The wordings differ: no locale is a copy of another.
        let subjects: std::collections::BTreeSet<_> =
            bundled_locales().iter().map(|l| texts(l).subject).collect();
        assert_eq!(subjects.len(), BUNDLED.len());
        assert_eq!(texts(&Locale::parse("it").unwrap()).lang, "en");
    }

    #[test]
    fn the_code_goes_into_the_subject_only_when_asked() {
        let code = code();
        let app = AppName::parse("Acme").unwrap();
        for locale in bundled_locales() {
            for app_name in [None, Some(&app)] {
                let e = Email {
                    app_name,
                    ..email(locale, &code)
                };
                assert!(!render(&e).subject.contains("482913"));
                let s = render(&Email {
                    code_in_subject: true,
                    ..e
                })
                .subject;
                assert!(s.contains("482913"), "{locale}: {s}");
                assert_eq!(s.contains("Acme"), app_name.is_some(), "{locale}: {s}");
            }
        }
        let de = Locale::parse("de").unwrap();
        let custom = Email {
            subject: Some("Sign-in"),
            ..email(&de, &code)
        };
        assert_eq!(render(&custom).subject, "Sign-in");
        assert_eq!(
            render(&Email {
                code_in_subject: true,
                ..custom
            })
            .subject,
            "482913 Sign-in"
        );
    }

    /// An app name with markup is shown as text: escaped in the HTML, never expanded as a
    /// placeholder, and never able to put the code in the subject.
    #[test]
    fn markup_and_placeholders_in_the_app_name_stay_text() {
        let code = code();
        let name = AppName::parse("<script>alert('x')</script> & {code}").unwrap();
        for locale in bundled_locales() {
            let m = render(&Email {
                app_name: Some(&name),
                ..email(locale, &code)
            });
            assert!(!m.html.contains("<script"), "{locale}");
            assert!(
                m.html
                    .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; {code}"),
                "{locale}"
            );
            assert!(m.subject.contains("{code}") && !m.subject.contains("482913"));
            assert!(m.text.contains("<script>alert('x')</script> & {code}"));
        }
        assert_eq!(AppName::parse("  "), None);
        assert_eq!(AppName::parse("Acme\r\nBcc: x@y.z"), None);
        assert_eq!(AppName::parse("Acme\u{2028}x"), None);
        assert_eq!(AppName::parse(&"x".repeat(65)), None);
        assert_eq!(
            AppName::parse(" Müller & Söhne ").unwrap().as_str(),
            "Müller & Söhne"
        );
        assert_eq!(one_line("a\r\nb\u{2029}c"), "a  b c");
    }

    #[test]
    fn the_link_carries_username_code_and_expiry_in_its_fragment() {
        let base = LinkBase::parse("https://app.example/sign-in?from=email").unwrap();
        let code = code();
        let link = SignInLink::new(&base, "maria+1@example.org #&=ü", &code, 1_767_225_900);
        assert_eq!(
            link.expose_url(),
            "https://app.example/sign-in?from=email#username=maria%2B1%40example.org%20%23%26%3D%C3%BC&code=482913&expiresAt=1767225900"
        );
        assert!(!format!("{link:?}").contains("482913"));
        let locale = Locale::parse("de").unwrap();
        let m = render(&Email {
            link: Some(&link),
            ..email(&locale, &code)
        });
        assert!(m.text.contains(link.expose_url()));
        assert!(
            m.html
                .contains(&format!("href=\"{}\"", escape_html(link.expose_url())))
        );
        assert!(m.html.contains("&amp;code=482913&amp;expiresAt=1767225900"));
        assert!(m.html.contains(">Anmelden</a>"));
        // Without a link, no anchor at all.
        let plain = render(&email(&locale, &code));
        assert!(!plain.html.contains("<a ") && !plain.text.contains("https://"));
    }

    #[test]
    fn link_bases_are_https_or_loopback_and_fragment_free() {
        for ok in [
            "https://app.example/sign-in",
            "https://app.example",
            "https://app.example:8443/a/b?x=1&y=2",
            "http://127.0.0.1:4580/",
            "http://localhost:3000/sign-in",
            "http://[::1]:8080/",
        ] {
            assert!(LinkBase::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "app.example/sign-in",
            "http://app.example/sign-in",
            "http://localhost.evil.example/",
            "https://app.example/sign-in#x",
            "https://app.example/\"><script>",
            "https://app.example/a b",
            "https:///path",
            "https://user@app.example/",
            "javascript:alert(1)",
            "ftp://app.example/",
            &format!("https://app.example/{}", "a".repeat(1100)),
        ] {
            assert!(LinkBase::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn html_escaping_covers_text_and_attributes() {
        assert_eq!(
            escape_html(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn debug_output_of_secrets_is_redacted_but_present() {
        let code = code();
        let m = render(&email(&bundled_locales()[0], &code));
        assert_eq!(format!("{m:?}"), "RenderedEmail { .. }");
        let base = LinkBase::parse("https://app.example/").unwrap();
        let link = SignInLink::new(&base, "u", &code, 1);
        assert_eq!(format!("{link:?}"), "SignInLink(<redacted>)");
    }

    #[test]
    fn placeholders_are_filled_once() {
        assert_eq!(
            fill("{a} and {b} {c} {", &[("a", "{b}"), ("b", "2")]),
            "{b} and 2 {c} {"
        );
    }

    #[test]
    fn minutes_round_up() {
        assert_eq!(validity_minutes(30), 1);
        assert_eq!(validity_minutes(300), 5);
        assert_eq!(validity_minutes(301), 6);
    }

    #[test]
    fn debug_shows_no_body() {
        let code = code();
        let m = render(&email(&bundled_locales()[0], &code));
        assert!(!format!("{m:?}").contains("482913"));
    }
}
