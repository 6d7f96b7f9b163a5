//! Approval ids. A statement refused in guarded mode carries an id bound to the exact statement
//! text, its parameter values, what its names resolved to (relations and search path, so the same
//! text over other objects is another request), the requesting role, the database and the refusal's
//! reason (an approval of a row limit lets no other refusal through: a function called by the
//! statement may have been replaced since): an operator approves that id,
//! and when the agent runs the same statement again the id it computes matches. The id is a
//! SHA-256 digest (a different statement cannot be made to share an approved id) prefixed with the
//! requesting role's OID, so an approval can refuse the requester and the roles it can become even
//! without any record of the request, and suffixed with a check, so a mistyped id is rejected.

use crate::sha256::sha256;

/// What an approval is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub database: u32,
    pub role: u32,
    pub statement: &'a str,
    /// Parameter values as text, `None` for SQL NULL.
    pub params: &'a [Option<String>],
    /// What the statement's names resolved to: relation OIDs, a 0, the search path's schema OIDs.
    pub resolved: &'a [u32],
    /// The refusal's reason code.
    pub reason: &'a str,
}

/// A well-formed approval id: `ROLE-DIGEST` with a 16-hex-digit digest and a 4-hex-digit check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalId {
    pub role: u32,
    pub text: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_digits(head: &str) -> String {
    hex(&sha256(head.as_bytes())[..2])
}

/// A statement's text as an approval binds it: without surrounding blanks and trailing semicolons,
/// so `simulate('DELETE …;')` and the agent's `DELETE …` share an id.
pub fn normalize(statement: &str) -> &str {
    statement.trim().trim_end_matches(|c: char| c == ';' || c.is_whitespace())
}

impl ApprovalId {
    pub fn for_request(req: &Request) -> ApprovalId {
        let statement = normalize(req.statement);
        let mut input = format!("interdict-approval\0{}\0{}\0{}", req.database, req.role, statement).into_bytes();
        for p in req.params {
            input.push(0);
            match p {
                Some(v) => {
                    input.push(b'v');
                    input.extend_from_slice(v.as_bytes());
                }
                None => input.push(b'n'),
            }
        }
        input.extend_from_slice(b"\0r");
        for oid in req.resolved {
            input.extend_from_slice(&oid.to_le_bytes());
        }
        input.extend_from_slice(b"\0k");
        input.extend_from_slice(req.reason.as_bytes());
        let head = format!("{}-{}", req.role, hex(&sha256(&input)[..8]));
        ApprovalId { role: req.role, text: format!("{head}{}", check_digits(&head)) }
    }

    /// Reads an id an operator typed or pasted.
    pub fn parse(text: &str) -> Result<ApprovalId, String> {
        let t = text.trim().to_ascii_lowercase();
        let bad = || format!("\"{}\" is not an approval id: copy approval_id from the refusal's detail", text.trim());
        let (role, digest) = t.split_once('-').ok_or_else(bad)?;
        let role: u32 = role.parse().map_err(|_| bad())?;
        if digest.len() != 20 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let head = format!("{role}-{}", &digest[..16]);
        if check_digits(&head) != digest[16..] {
            return Err(bad());
        }
        Ok(ApprovalId { role, text: t })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(statement: &'a str, params: &'a [Option<String>]) -> Request<'a> {
        Request { database: 5, role: 16384, statement, params, resolved: &[16400, 0, 11, 2200], reason: "guarded.blast_radius" }
    }

    #[test]
    fn ids_bind_the_refusal_they_answer() {
        let rows = ApprovalId::for_request(&req("SELECT f()", &[]));
        assert_ne!(rows, ApprovalId::for_request(&Request { reason: "guarded.truncate", ..req("SELECT f()", &[]) }));
    }

    #[test]
    fn ids_bind_text_params_role_and_database() {
        let a = ApprovalId::for_request(&req("DELETE FROM t", &[]));
        assert_eq!(a, ApprovalId::for_request(&req("DELETE FROM t", &[])), "stable");
        assert!(a.text.starts_with("16384-") && a.text.len() == "16384-".len() + 20, "{}", a.text);
        assert_eq!(a, ApprovalId::for_request(&req(" DELETE FROM t ; ", &[])), "blanks and trailing semicolons do not count");
        assert_ne!(a, ApprovalId::for_request(&req("DELETE FROM  t", &[])));
        let one = [Some("1".to_string())];
        let null = [None];
        let empty = [Some(String::new())];
        let with = |p| ApprovalId::for_request(&req("DELETE FROM t WHERE id = $1", p));
        assert_ne!(with(&one), with(&null));
        assert_ne!(with(&null), with(&empty));
        assert_ne!(a, ApprovalId::for_request(&Request { role: 16385, ..req("DELETE FROM t", &[]) }));
        assert_ne!(a, ApprovalId::for_request(&Request { database: 6, ..req("DELETE FROM t", &[]) }));
        let shadowed = [16500, 0, 16490, 11, 2200]; // a temporary table of the same name, and pg_temp first
        assert_ne!(a, ApprovalId::for_request(&Request { resolved: &shadowed, ..req("DELETE FROM t", &[]) }), "other objects");
    }

    #[test]
    fn parse_checks_the_id() {
        let a = ApprovalId::for_request(&req("DELETE FROM t", &[]));
        assert_eq!(ApprovalId::parse(&format!("  {} ", a.text.to_uppercase())), Ok(a.clone()));
        let mut typo = a.text.clone().into_bytes();
        let i = typo.len() - 5;
        typo[i] = if typo[i] == b'0' { b'1' } else { b'0' };
        assert!(ApprovalId::parse(std::str::from_utf8(&typo).unwrap()).is_err(), "a typo fails the check");
        for bad in ["", "abc", "x-0123456789abcdef0123", "1-0123", "1-zz23456789abcdef0123"] {
            assert!(ApprovalId::parse(bad).is_err(), "{bad}");
        }
    }
}
