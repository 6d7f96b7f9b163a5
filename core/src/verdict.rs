//! A verdict and, for a refusal, the error text an agent reads: the message says what was refused
//! and why, the DETAIL is one JSON object (reason code, SQLSTATE, mode and facts), the HINT is the fix.

use crate::{Mode, ReasonCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Refuse(Refusal),
}

impl Verdict {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allow)
    }

    /// The same verdict, with one more fact if it is a refusal.
    pub fn fact(self, key: &'static str, value: impl Into<String>) -> Verdict {
        match self {
            Verdict::Refuse(r) => Verdict::Refuse(r.fact(key, value)),
            allowed => allowed,
        }
    }

    /// The refusal's reason code, if refused.
    pub fn code(&self) -> Option<ReasonCode> {
        match self {
            Verdict::Allow => None,
            Verdict::Refuse(r) => Some(r.code),
        }
    }
}

/// Why a statement is refused, with the facts an agent needs to correct it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ReasonCode,
    pub mode: Mode,
    /// What was refused, e.g. `DELETE on public.accounts` or `function nextval()`.
    pub what: String,
    /// Further facts, as key/value pairs, in the order given.
    pub facts: Vec<(&'static str, String)>,
    /// A policy said `refuse`: no operator approval lets it through.
    pub final_refusal: bool,
}

impl Refusal {
    pub fn new(code: ReasonCode, mode: Mode, what: impl Into<String>) -> Refusal {
        Refusal { code, mode, what: what.into(), facts: Vec::new(), final_refusal: false }
    }

    /// Whether an operator may let the statement through with `interdict.approve(id)`.
    pub fn approvable(&self) -> bool {
        self.code.approvable() && !self.final_refusal
    }

    /// The same refusal, with no approval possible.
    pub fn without_approval(mut self) -> Refusal {
        self.final_refusal = true;
        self
    }

    pub fn fact(mut self, key: &'static str, value: impl Into<String>) -> Refusal {
        self.facts.push((key, value.into()));
        self
    }

    /// The value of a fact, if the refusal has it.
    pub fn fact_value(&self, key: &str) -> Option<&str> {
        self.facts.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }

    /// `interdict: DELETE on public.accounts refused: readonly sessions cannot change table data`
    pub fn message(&self) -> String {
        format!("interdict: {} refused: {}", self.what, self.code.reason().why)
    }

    /// `{"reason":"readonly.dml","sqlstate":"25006","mode":"readonly",…facts}`
    pub fn detail(&self) -> String {
        let reason = self.code.reason();
        let mut fields = vec![("reason", reason.code.to_string()), ("sqlstate", reason.sqlstate.to_string())];
        fields.push(("mode", self.mode.as_str().to_string()));
        fields.extend(self.facts.iter().cloned());
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{}", json_string(k), json_string(v))).collect();
        format!("{{{}}}", body.join(","))
    }

    pub fn hint(&self) -> &'static str {
        self.code.reason().hint
    }
}

/// A JSON string literal (RFC 8259 escaping).
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_detail_and_hint() {
        let r = Refusal::new(ReasonCode::ReadonlyDml, Mode::Readonly, "DELETE on public.accounts")
            .fact("command", "DELETE")
            .fact("relation", "public.accounts");
        assert_eq!(r.message(), "interdict: DELETE on public.accounts refused: readonly sessions cannot change table data");
        assert_eq!(
            r.detail(),
            r#"{"reason":"readonly.dml","sqlstate":"25006","mode":"readonly","command":"DELETE","relation":"public.accounts"}"#
        );
        assert!(r.hint().starts_with("Run only reads"));
    }

    #[test]
    fn detail_escapes_what_it_quotes() {
        let r = Refusal::new(ReasonCode::CommandBlocked, Mode::Guarded, "x").fact("relation", "s.\"we\\ird\"\n\u{1}");
        assert!(r.detail().ends_with(r#""relation":"s.\"we\\ird\"\n\u0001"}"#), "{}", r.detail());
    }
}
