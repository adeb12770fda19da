//! The simulator's inputs (DESIGN §16): the ticket trace, read as a stream
//! (one row at a time, never the whole file), and the roster.
//!
//! Bad input stops with one line naming the file, the line and the field.

use std::{fs::File, io::BufReader, path::Path};

use crate::domain::{Category, GENERAL_SKILL, SkillLevel, SkillName, Tier};

/// Bad input: which file, which line (1 = the header), which field, why.
#[derive(Debug, PartialEq, Eq)]
pub struct InputError {
    pub file: String,
    pub line: u64,
    pub field: String,
    pub why: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.why)
        } else if self.field.is_empty() {
            write!(f, "{}:{}: {}", self.file, self.line, self.why)
        } else {
            write!(f, "{}:{}: field {:?}: {}", self.file, self.line, self.field, self.why)
        }
    }
}

impl std::error::Error for InputError {}

/// One ticket of the trace.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceTicket {
    /// Milliseconds from the start of the trace.
    pub arrival_ms: i64,
    pub tier: Option<Tier>,
    pub category: String,
    /// The skill the category needs.
    pub skill: SkillName,
    /// The skill level the problem needs, 1–3.
    pub complexity: u8,
    /// How long the work takes an agent whose level matches the complexity.
    pub work_ms: i64,
}

/// One agent of the roster.
#[derive(Clone, Debug, PartialEq)]
pub struct RosterAgent {
    pub id: i64,
    pub name: String,
    pub skills: Vec<SkillLevel>,
    pub capacity: u32,
    /// On duty from–to, minutes after midnight (the trace starts at
    /// midnight); `None`: always. A shift may cross midnight.
    pub shift: Option<(u32, u32)>,
}

impl RosterAgent {
    /// Whether the agent is on duty `at_ms` after the start.
    pub fn on_duty(&self, at_ms: i64) -> bool {
        let Some((from, to)) = self.shift else { return true };
        let minute = (at_ms.div_euclid(60_000)).rem_euclid(1440) as u32;
        if from <= to { (from..to).contains(&minute) } else { minute >= from || minute < to }
    }
}

fn open(path: &Path) -> Result<csv::Reader<BufReader<File>>, InputError> {
    let file = File::open(path).map_err(|e| InputError {
        file: path.display().to_string(),
        line: 0,
        field: String::new(),
        why: format!("cannot open: {e}"),
    })?;
    Ok(csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(BufReader::new(file)))
}

/// The columns a file must have, by name, in any order.
struct Columns {
    file: String,
    names: Vec<String>,
}

impl Columns {
    fn read(
        file: &str,
        reader: &mut csv::Reader<BufReader<File>>,
        required: &[&str],
    ) -> Result<Self, InputError> {
        let headers = reader.headers().map_err(|e| InputError {
            file: file.to_owned(),
            line: 1,
            field: String::new(),
            why: format!("cannot read the header: {e}"),
        })?;
        // A spreadsheet's UTF-8 byte-order mark is not part of the first name.
        let names: Vec<String> =
            headers.iter().map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase()).collect();
        for column in required {
            if !names.iter().any(|n| n == column) {
                return Err(InputError {
                    file: file.to_owned(),
                    line: 1,
                    field: (*column).to_owned(),
                    why: format!("missing column (the header has: {})", names.join(", ")),
                });
            }
        }
        Ok(Self { file: file.to_owned(), names })
    }

    /// The value of `column` in `record` ("" when the row is short).
    fn get<'r>(&self, record: &'r csv::StringRecord, column: &str) -> &'r str {
        self.names.iter().position(|n| n == column).and_then(|i| record.get(i)).unwrap_or("")
    }

    fn error(&self, line: u64, field: &str, why: impl Into<String>) -> InputError {
        InputError { file: self.file.clone(), line, field: field.to_owned(), why: why.into() }
    }
}

/// The trace, read row by row.
pub struct TraceReader {
    reader: csv::Reader<BufReader<File>>,
    columns: Columns,
    categories: Vec<Category>,
    record: csv::StringRecord,
    last_arrival_ms: i64,
}

impl TraceReader {
    /// Opens the trace and checks its header. `categories` are the desk's
    /// (`CATEGORIES`): each ticket's category must be one of them.
    pub fn open(path: &Path, categories: &[Category]) -> Result<Self, InputError> {
        let mut reader = open(path)?;
        let columns = Columns::read(
            &path.display().to_string(),
            &mut reader,
            &["arrival", "tier", "category", "complexity", "work_minutes"],
        )?;
        Ok(Self {
            reader,
            columns,
            categories: categories.to_vec(),
            record: csv::StringRecord::new(),
            last_arrival_ms: 0,
        })
    }

    /// The next ticket; `None` at the end.
    pub fn next_ticket(&mut self) -> Result<Option<TraceTicket>, InputError> {
        let more = self.reader.read_record(&mut self.record).map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            self.columns.error(line, "", format!("unreadable CSV: {e}"))
        })?;
        if !more {
            return Ok(None);
        }
        let line = self.record.position().map_or(0, |p| p.line());
        let c = &self.columns;
        let r = &self.record;
        let arrival: f64 =
            c.get(r, "arrival").parse().ok().filter(|a: &f64| a.is_finite() && *a >= 0.0).ok_or_else(
                || c.error(line, "arrival", "not a number of seconds from the start, 0 or more"),
            )?;
        let arrival_ms = (arrival * 1000.0).round() as i64;
        if arrival_ms < self.last_arrival_ms {
            return Err(c.error(
                line,
                "arrival",
                "earlier than the line before (the trace must be in arrival order)",
            ));
        }
        self.last_arrival_ms = arrival_ms;
        let tier = match c.get(r, "tier").to_ascii_lowercase().as_str() {
            "" | "unknown" => None,
            other => Some(
                Tier::parse(other)
                    .ok_or_else(|| c.error(line, "tier", "not premium, standard, basic or unknown"))?,
            ),
        };
        let category = c.get(r, "category").to_ascii_lowercase();
        let skill =
            self.categories.iter().find(|k| k.name() == category).map(|k| k.skill().clone()).ok_or_else(
                || {
                    let known: Vec<&str> = self.categories.iter().map(Category::name).collect();
                    c.error(
                        line,
                        "category",
                        format!("{category:?} is not one of the categories ({})", known.join(", ")),
                    )
                },
            )?;
        let complexity: u8 = c
            .get(r, "complexity")
            .parse()
            .ok()
            .filter(|l| (1..=3).contains(l))
            .ok_or_else(|| c.error(line, "complexity", "not 1, 2 or 3"))?;
        let work: f64 = c
            .get(r, "work_minutes")
            .parse()
            .ok()
            .filter(|w: &f64| w.is_finite() && *w > 0.0 && *w <= 10_080.0)
            .ok_or_else(|| {
                c.error(line, "work_minutes", "not a number of minutes above 0 (at most a week)")
            })?;
        Ok(Some(TraceTicket {
            arrival_ms,
            tier,
            category,
            skill,
            complexity,
            work_ms: (work * 60_000.0).round() as i64,
        }))
    }
}

/// Reads the roster. Skills must be ones the categories need, or
/// `general`.
pub fn read_roster(path: &Path, categories: &[Category]) -> Result<Vec<RosterAgent>, InputError> {
    let mut reader = open(path)?;
    let columns =
        Columns::read(&path.display().to_string(), &mut reader, &["agent_id", "name", "skills", "capacity"])?;
    let mut known: Vec<String> = categories.iter().map(|c| c.skill().as_str().to_owned()).collect();
    known.push(GENERAL_SKILL.to_owned());
    known.sort();
    known.dedup();
    let mut agents: Vec<RosterAgent> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader.read_record(&mut record).map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            columns.error(line, "", format!("unreadable CSV: {e}"))
        })?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        let c = &columns;
        let id: i64 = c
            .get(&record, "agent_id")
            .parse()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| c.error(line, "agent_id", "not a positive whole number"))?;
        if agents.iter().any(|a| a.id == id) {
            return Err(c.error(line, "agent_id", format!("agent {id} is listed twice")));
        }
        let name = c.get(&record, "name");
        if name.is_empty() {
            return Err(c.error(line, "name", "empty"));
        }
        let mut skills = Vec::new();
        for raw in c.get(&record, "skills").split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let skill = SkillLevel::parse(raw).map_err(|e| {
                c.error(line, "skills", format!("{raw:?}: {e} (write skill:level, e.g. billing:3)"))
            })?;
            if !known.iter().any(|k| k == skill.name.as_str()) {
                return Err(c.error(
                    line,
                    "skills",
                    format!(
                        "unknown skill {:?} (the categories need: {})",
                        skill.name.as_str(),
                        known.join(", ")
                    ),
                ));
            }
            skills.push(skill);
        }
        if skills.is_empty() {
            return Err(c.error(line, "skills", "no skill (write e.g. billing:3;general:1)"));
        }
        let capacity: u32 = c
            .get(&record, "capacity")
            .parse()
            .ok()
            .filter(|n| (1..=50).contains(n))
            .ok_or_else(|| c.error(line, "capacity", "not a whole number from 1 to 50"))?;
        let shift = match c.get(&record, "shift") {
            "" => None,
            raw => Some(parse_shift(raw).ok_or_else(|| c.error(line, "shift", "not HH:MM-HH:MM"))?),
        };
        agents.push(RosterAgent { id, name: name.to_owned(), skills, capacity, shift });
    }
    if agents.is_empty() {
        return Err(InputError {
            file: path.display().to_string(),
            line: 0,
            field: String::new(),
            why: "no agents".to_owned(),
        });
    }
    Ok(agents)
}

/// `09:00-17:30` → minutes after midnight.
fn parse_shift(raw: &str) -> Option<(u32, u32)> {
    let (from, to) = raw.split_once('-')?;
    let minutes = |t: &str| -> Option<u32> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
    };
    let (from, to) = (minutes(from)?, minutes(to)?);
    (from != to).then_some((from, to % 1440))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn categories() -> Vec<Category> {
        crate::config::parse_categories(crate::config::DEFAULT_CATEGORIES).expect("default")
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("tmp");
        std::io::Write::write_all(&mut file, text.as_bytes()).expect("write");
        file
    }

    fn trace_error(text: &str) -> String {
        let f = file(text);
        let mut reader = match TraceReader::open(f.path(), &categories()) {
            Ok(r) => r,
            Err(e) => return e.to_string().replace(&f.path().display().to_string(), "T"),
        };
        loop {
            match reader.next_ticket() {
                Ok(Some(_)) => {}
                Ok(None) => return "ok".into(),
                Err(e) => return e.to_string().replace(&f.path().display().to_string(), "T"),
            }
        }
    }

    #[test]
    fn a_trace_is_read_in_order() {
        let f = file(
            // With the byte-order mark a spreadsheet puts first.
            "\u{feff}arrival,tier,category,complexity,work_minutes\n0,premium,billing,3,12\n1.5,,account,1,2.5\n",
        );
        let mut reader = TraceReader::open(f.path(), &categories()).expect("open");
        let first = reader.next_ticket().expect("ok").expect("one");
        assert_eq!(
            (first.arrival_ms, first.tier, first.complexity, first.work_ms),
            (0, Some(Tier::Premium), 3, 720_000)
        );
        let second = reader.next_ticket().expect("ok").expect("two");
        assert_eq!((second.arrival_ms, second.tier, second.skill.as_str()), (1500, None, "general"));
        assert_eq!(reader.next_ticket().expect("ok"), None);
    }

    #[test]
    fn bad_trace_lines_name_the_file_line_and_field() {
        let h = "arrival,tier,category,complexity,work_minutes\n";
        assert_eq!(
            trace_error("arrival,tier,category,work_minutes\n"),
            "T:1: field \"complexity\": missing column (the header has: arrival, tier, category, work_minutes)"
        );
        assert_eq!(
            trace_error(&format!("{h}0,gold,billing,1,1\n")),
            "T:2: field \"tier\": not premium, standard, basic or unknown"
        );
        assert_eq!(
            trace_error(&format!("{h}0,basic,billing,1,1\n-3,basic,billing,1,1\n")),
            "T:3: field \"arrival\": not a number of seconds from the start, 0 or more"
        );
        assert_eq!(
            trace_error(&format!("{h}5,basic,billing,1,1\n3,basic,billing,1,1\n")),
            "T:3: field \"arrival\": earlier than the line before (the trace must be in arrival order)"
        );
        assert_eq!(
            trace_error(&format!("{h}0,basic,billing,4,1\n")),
            "T:2: field \"complexity\": not 1, 2 or 3"
        );
        assert_eq!(
            trace_error(&format!("{h}0,basic,billing,1,0\n")),
            "T:2: field \"work_minutes\": not a number of minutes above 0 (at most a week)"
        );
        assert!(
            trace_error(&format!("{h}0,basic,refunds,1,1\n"))
                .starts_with("T:2: field \"category\": \"refunds\" is not one of")
        );
        assert!(trace_error("").contains("missing column"));
    }

    #[test]
    fn a_roster_is_checked_field_by_field() {
        let h = "agent_id,name,skills,capacity,shift\n";
        let f = file(&format!(
            "{h}1,Ann,billing:3;general:1,5,09:00-17:00\n2,Bob,technical:1,3,\n3,Cid,general:2,2,22:00-06:00\n"
        ));
        let roster = read_roster(f.path(), &categories()).expect("roster");
        assert_eq!(roster.len(), 3);
        assert_eq!(roster[0].shift, Some((540, 1020)));
        assert!(roster[0].on_duty(9 * 3_600_000) && !roster[0].on_duty(17 * 3_600_000));
        assert!(roster[0].on_duty(86_400_000 + 10 * 3_600_000), "shifts repeat daily");
        assert!(
            roster[2].on_duty(23 * 3_600_000)
                && roster[2].on_duty(5 * 3_600_000)
                && !roster[2].on_duty(12 * 3_600_000)
        );
        assert!(roster[1].on_duty(123_456_789));
        let error = |text: &str| {
            let f = file(text);
            read_roster(f.path(), &categories())
                .expect_err("bad")
                .to_string()
                .replace(&f.path().display().to_string(), "R")
        };
        assert_eq!(
            error(&format!("{h}1,Ann,biling:3,5,\n")),
            "R:2: field \"skills\": unknown skill \"biling\" (the categories need: billing, general, technical)"
        );
        assert_eq!(
            error(&format!("{h}1,Ann,billing:4,5,\n")).split(':').take(3).collect::<Vec<_>>().join(":"),
            "R:2: field \"skills\""
        );
        assert_eq!(
            error(&format!("{h}1,Ann,billing:3,0,\n")),
            "R:2: field \"capacity\": not a whole number from 1 to 50"
        );
        assert_eq!(
            error(&format!("{h}x,Ann,billing:3,5,\n")),
            "R:2: field \"agent_id\": not a positive whole number"
        );
        assert_eq!(error(&format!("{h}1,Ann,billing:3,5,9-17\n")), "R:2: field \"shift\": not HH:MM-HH:MM");
        assert_eq!(
            error(&format!("{h}1,Ann,billing:3,5,\n1,Bo,billing:1,5,\n")),
            "R:3: field \"agent_id\": agent 1 is listed twice"
        );
        assert_eq!(
            error("agent_id,name,capacity\n"),
            "R:1: field \"skills\": missing column (the header has: agent_id, name, capacity)"
        );
        assert_eq!(error(h), "R: no agents");
    }
}
