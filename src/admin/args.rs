//! Argument parsing for admin and agent commands: pure functions, so every
//! malformed input has a test and a usage hint instead of a panic.

use crate::domain::{SkillLevel, SkillName};

/// Default and maximum capacity (open tickets) of an agent.
pub const DEFAULT_CAPACITY: u32 = 5;
pub const MAX_CAPACITY: u32 = 50;

/// Input that does not fit a command; the handler answers with its usage.
#[derive(Debug, PartialEq, Eq)]
pub struct Usage;

fn user_id(raw: &str) -> Result<i64, Usage> {
    let id: i64 = raw.trim().trim_start_matches('#').parse().map_err(|_| Usage)?;
    if id > 0 { Ok(id) } else { Err(Usage) }
}

fn words(args: &str) -> Vec<&str> {
    args.split_whitespace().collect()
}

/// `/agent_add <user id> [capacity]`, or `[capacity]` when replying to the
/// person (`replied_user`).
pub fn agent_add(args: &str, replied_user: Option<i64>) -> Result<(i64, u32), Usage> {
    let words = words(args);
    let (user, rest) = match (replied_user, words.as_slice()) {
        (_, [id, rest @ ..]) if user_id(id).is_ok() && (replied_user.is_none() || rest.len() == 1) => {
            (user_id(id)?, rest.to_vec())
        }
        (Some(user), rest) => (user, rest.to_vec()),
        (None, _) => return Err(Usage),
    };
    let capacity = match rest.as_slice() {
        [] => DEFAULT_CAPACITY,
        [raw] => raw.parse().ok().filter(|c| (1..=MAX_CAPACITY).contains(c)).ok_or(Usage)?,
        _ => return Err(Usage),
    };
    Ok((user, capacity))
}

/// `/agent_remove <user id>` (or replying to the person).
pub fn single_user(args: &str, replied_user: Option<i64>) -> Result<i64, Usage> {
    match (words(args).as_slice(), replied_user) {
        ([id], _) => user_id(id),
        ([], Some(user)) => Ok(user),
        _ => Err(Usage),
    }
}

/// `/skill_add <user id> <skill>[:level] [force]`: `force` adds a skill no
/// category needs (otherwise refused as a likely typo).
pub fn skill_add(args: &str) -> Result<(i64, SkillLevel, bool), Usage> {
    let (id, skill, force) = match words(args).as_slice() {
        [id, skill] => (*id, *skill, false),
        [id, skill, flag] if flag.eq_ignore_ascii_case("force") => (*id, *skill, true),
        _ => return Err(Usage),
    };
    Ok((user_id(id)?, SkillLevel::parse(skill).map_err(|_| Usage)?, force))
}

/// `/skill_remove <user id> <skill>`.
pub fn skill_remove(args: &str) -> Result<(i64, SkillName), Usage> {
    match words(args).as_slice() {
        [id, skill] => {
            let name = skill.split(':').next().unwrap_or(skill);
            Ok((user_id(id)?, SkillName::parse(name).map_err(|_| Usage)?))
        }
        _ => Err(Usage),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_add_takes_an_id_or_a_reply_and_an_optional_capacity() {
        assert_eq!(agent_add("1001", None), Ok((1001, DEFAULT_CAPACITY)));
        assert_eq!(agent_add(" 1001   3 ", None), Ok((1001, 3)));
        assert_eq!(agent_add("", Some(77)), Ok((77, DEFAULT_CAPACITY)));
        assert_eq!(agent_add("4", Some(77)), Ok((77, 4)), "a lone number in a reply is the capacity");
        assert_eq!(agent_add("1001 4", Some(77)), Ok((1001, 4)), "an explicit id wins");
        for bad in ["", "bob", "1001 0", "1001 51", "1001 x", "-5", "0", "1001 2 3", "99999999999999999999"] {
            assert_eq!(agent_add(bad, None), Err(Usage), "{bad:?}");
        }
    }

    #[test]
    fn skills_parse_with_levels() {
        let (id, skill, force) = skill_add("1001 billing:3").expect("valid");
        assert!(!force);
        assert_eq!(
            skill_add("1001 biling:3 force").map(|(_, s, force)| (s.to_string(), force)),
            Ok(("biling:3".into(), true))
        );
        assert_eq!(skill_add("1001 billing:3 please").map(|_| ()), Err(Usage));
        assert_eq!((id, skill.to_string()), (1001, "billing:3".to_owned()));
        assert_eq!(skill_add("1001 billing").map(|(_, s, _)| s.level), Ok(1));
        for bad in ["1001", "billing:3", "1001 billing:4", "1001 bil ling", "x billing"] {
            assert_eq!(skill_add(bad).map(|_| ()), Err(Usage), "{bad:?}");
        }
        assert_eq!(
            skill_remove("1001 billing:3").map(|(i, s)| (i, s.to_string())),
            Ok((1001, "billing".into()))
        );
        assert_eq!(skill_remove("1001").map(|_| ()), Err(Usage));
    }

    #[test]
    fn single_users() {
        assert_eq!(single_user("42", None), Ok(42));
        assert_eq!(single_user("", Some(7)), Ok(7));
        assert_eq!(single_user("", None), Err(Usage));
        assert_eq!(single_user("1 2", None), Err(Usage));
    }
}
