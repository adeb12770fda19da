//! Agents, their skills, the routing roster and the audit log.

use std::collections::HashMap;

use super::{Storage, StorageError, StorageResult, with_pool};
use crate::domain::{
    SkillLevel, SkillName,
    agent::{AgentSnapshot, AgentStatus},
};

/// Who made a roster change, for the audit log. Written in the same
/// transaction as the change; with `update_id`, at most once per Telegram
/// update, so a replay after a crash can tell the change was made
/// ([`Storage::audited_update`]).
#[derive(Clone, Debug)]
pub struct Audit<'a> {
    pub update_id: Option<i64>,
    pub actor_id: i64,
    pub action: &'a str,
    pub details: String,
    pub at_ms: i64,
}

/// Writes the audit row of a change inside its transaction.
macro_rules! write_audit {
    ($tx:expr, $audit:expr, $subject:expr) => {
        if let Some(audit) = $audit {
            sqlx::query(
                "INSERT INTO audit_log (at, actor_id, action, subject, details, update_id) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(audit.at_ms)
            .bind(audit.actor_id)
            .bind(audit.action)
            .bind($subject)
            .bind(&audit.details)
            .bind(audit.update_id)
            .execute(&mut *$tx)
            .await?;
        }
    };
}

/// Whether `upsert_agent` created the agent or updated an existing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentUpsert {
    Added,
    Updated,
}

#[derive(sqlx::FromRow)]
pub(super) struct AgentRow {
    user_id: i64,
    display_name: String,
    status: String,
    capacity: i64,
    idle_since: i64,
    open_tickets: i64,
}

#[derive(sqlx::FromRow)]
struct SkillRow {
    user_id: i64,
    skill: String,
    level: i64,
}

pub(super) fn snapshot(row: AgentRow, skills: Vec<SkillLevel>) -> StorageResult<AgentSnapshot> {
    let status = AgentStatus::parse(&row.status).ok_or_else(|| {
        StorageError::Corrupt(format!("agent {}: unknown status {:?}", row.user_id, row.status))
    })?;
    Ok(AgentSnapshot {
        id: row.user_id,
        name: row.display_name,
        status,
        capacity: u32::try_from(row.capacity.max(0)).unwrap_or(u32::MAX),
        open_tickets: u32::try_from(row.open_tickets.max(0)).unwrap_or(u32::MAX),
        skills,
        idle_since_ms: row.idle_since,
    })
}

fn skill_level(row: SkillRow) -> StorageResult<(i64, SkillLevel)> {
    let name = SkillName::parse(&row.skill)
        .map_err(|_| StorageError::Corrupt(format!("agent {}: bad skill {:?}", row.user_id, row.skill)))?;
    let level = u8::try_from(row.level)
        .ok()
        .filter(|l| (1..=3).contains(l))
        .ok_or_else(|| StorageError::Corrupt(format!("agent {}: bad level {}", row.user_id, row.level)))?;
    Ok((row.user_id, SkillLevel { name, level }))
}

/// Agents with their current load, as [`AgentRow`] reads them (a literal,
/// so every query built on it stays `&'static str`).
macro_rules! agent_select {
    () => {
        "SELECT a.user_id, a.display_name, a.status, a.capacity, a.idle_since, \
         (SELECT COUNT(*) FROM tickets t WHERE t.status = 'open' AND t.assignee_id = a.user_id) AS open_tickets \
         FROM agents a"
    };
}

/// Every agent with their load, in a stable order: the routing snapshot.
/// The loads come from one pass over the open assigned tickets: a count per
/// agent (as in [`agent_select`]) leads PostgreSQL's planner to scan every
/// open ticket once per agent (6.6 ms instead of 0.5 ms for 50 agents and
/// 1,250 open tickets).
pub(super) const ROSTER_SQL: &str = "SELECT a.user_id, a.display_name, a.status, a.capacity, a.idle_since, \
     COALESCE(l.open_tickets, 0) AS open_tickets \
     FROM agents a LEFT JOIN (SELECT assignee_id, COUNT(*) AS open_tickets FROM tickets \
         WHERE status = 'open' AND assignee_id IS NOT NULL GROUP BY assignee_id) l ON l.assignee_id = a.user_id \
     ORDER BY a.user_id";

impl Storage {
    /// Adds an agent, or updates the capacity of an existing one.
    pub async fn upsert_agent(
        &self,
        user_id: i64,
        display_name: &str,
        capacity: u32,
        now_ms: i64,
        audit: Option<&Audit<'_>>,
    ) -> StorageResult<AgentUpsert> {
        let existing = self.agent(user_id).await?;
        with_pool!(self, |pool| {
            async {
            let mut tx = pool.begin().await?;
            if existing.is_some() {
                sqlx::query("UPDATE agents SET capacity = $2 WHERE user_id = $1")
                    .bind(user_id)
                    .bind(i64::from(capacity))
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query(
                    "INSERT INTO agents (user_id, display_name, status, capacity, idle_since, created_at) \
                     VALUES ($1, $2, 'available', $3, $4, $4) ON CONFLICT (user_id) DO UPDATE SET capacity = excluded.capacity",
                )
                .bind(user_id)
                .bind(display_name)
                .bind(i64::from(capacity))
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            write_audit!(tx, audit, Some(user_id));
            tx.commit().await
        }
        .await
        })?;
        Ok(if existing.is_some() { AgentUpsert::Updated } else { AgentUpsert::Added })
    }

    /// Removes an agent and their skills; their open tickets go back to the
    /// queue. Returns the ids of those tickets, or `None` if no such agent.
    pub async fn remove_agent(
        &self,
        user_id: i64,
        audit: Option<&Audit<'_>>,
    ) -> StorageResult<Option<Vec<i64>>> {
        with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let released: Vec<(i64,)> = sqlx::query_as(
                "UPDATE tickets SET assignee_id = NULL, assigned_at = NULL \
                 WHERE status = 'open' AND assignee_id = $1 RETURNING id",
            )
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM agent_skills WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let removed =
                sqlx::query("DELETE FROM agents WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            if removed.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok::<_, sqlx::Error>(None);
            }
            write_audit!(tx, audit, Some(user_id));
            tx.commit().await?;
            Ok(Some(released.into_iter().map(|(id,)| id).collect()))
        }
        .await)
        .map_err(StorageError::from)
    }

    /// Grants (or changes the level of) a skill. `false` if no such agent.
    pub async fn set_agent_skill(
        &self,
        user_id: i64,
        skill: &SkillLevel,
        audit: Option<&Audit<'_>>,
    ) -> StorageResult<bool> {
        if self.agent(user_id).await?.is_none() {
            return Ok(false);
        }
        with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO agent_skills (user_id, skill, level) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, skill) DO UPDATE SET level = excluded.level",
            )
            .bind(user_id)
            .bind(skill.name.as_str())
            .bind(i64::from(skill.level))
            .execute(&mut *tx)
            .await?;
            write_audit!(tx, audit, Some(user_id));
            tx.commit().await
        }
        .await)?;
        Ok(true)
    }

    /// Takes a skill away. `false` if the agent did not hold it.
    pub async fn remove_agent_skill(
        &self,
        user_id: i64,
        skill: &SkillName,
        audit: Option<&Audit<'_>>,
    ) -> StorageResult<bool> {
        let removed = with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let removed = sqlx::query("DELETE FROM agent_skills WHERE user_id = $1 AND skill = $2")
                .bind(user_id)
                .bind(skill.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if removed == 1 {
                write_audit!(tx, audit, Some(user_id));
            }
            tx.commit().await.map(|()| removed)
        }
        .await)?;
        Ok(removed == 1)
    }

    /// Sets an agent's status (and the name they go by now); becoming
    /// available restarts their idle clock. `false` if no such agent.
    pub async fn set_agent_status(
        &self,
        user_id: i64,
        status: AgentStatus,
        now_ms: i64,
        display_name: Option<&str>,
        audit: Option<&Audit<'_>>,
    ) -> StorageResult<bool> {
        let changed = with_pool!(self, |pool| {
            async {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE agents SET status = $2, \
                 idle_since = CASE WHEN $2 = 'available' AND status <> 'available' THEN $3 ELSE idle_since END, \
                 display_name = COALESCE($4, display_name) \
                 WHERE user_id = $1",
            )
            .bind(user_id)
            .bind(status.as_str())
            .bind(now_ms)
            .bind(display_name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 1 {
                write_audit!(tx, audit, Some(user_id));
            }
            tx.commit().await.map(|()| changed)
        }
        .await
        })?;
        Ok(changed == 1)
    }

    /// Whether update `update_id` already made a roster change (it is being
    /// replayed after a crash that came after its change, before its mark).
    pub async fn audited_update(&self, update_id: i64) -> StorageResult<bool> {
        let row: Option<(i64,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT id FROM audit_log WHERE update_id = $1 LIMIT 1")
                .bind(update_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.is_some())
    }

    /// An agent's display name (one cheap query, for notes).
    pub async fn agent_name(&self, user_id: i64) -> StorageResult<Option<String>> {
        let row: Option<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT display_name FROM agents WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(|(name,)| name))
    }

    /// One agent with skills and load.
    pub async fn agent(&self, user_id: i64) -> StorageResult<Option<AgentSnapshot>> {
        let sql = concat!(agent_select!(), " WHERE a.user_id = $1");
        let row: Option<AgentRow> =
            with_pool!(self, |pool| sqlx::query_as(sql).bind(user_id).fetch_optional(pool).await)?;
        let Some(row) = row else { return Ok(None) };
        let skills: Vec<SkillRow> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT user_id, skill, level FROM agent_skills WHERE user_id = $1 ORDER BY skill")
                .bind(user_id)
                .fetch_all(pool)
                .await
        })?;
        let skills =
            skills.into_iter().map(|r| skill_level(r).map(|(_, s)| s)).collect::<StorageResult<_>>()?;
        snapshot(row, skills).map(Some)
    }

    /// Every agent with skills and current load: the router's snapshot.
    pub async fn roster(&self) -> StorageResult<Vec<AgentSnapshot>> {
        let rows: Vec<AgentRow> = with_pool!(self, |pool| sqlx::query_as(ROSTER_SQL).fetch_all(pool).await)?;
        let skill_rows: Vec<SkillRow> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT user_id, skill, level FROM agent_skills ORDER BY user_id, skill")
                .fetch_all(pool)
                .await
        })?;
        let mut skills: HashMap<i64, Vec<SkillLevel>> = HashMap::new();
        for row in skill_rows {
            let (user_id, skill) = skill_level(row)?;
            skills.entry(user_id).or_default().push(skill);
        }
        rows.into_iter()
            .map(|row| {
                let own = skills.remove(&row.user_id).unwrap_or_default();
                snapshot(row, own)
            })
            .collect()
    }

    /// Records an agent's name and @username as Telegram shows them now;
    /// `true` if either changed (an agent added by id is "Agent 2001" until
    /// then, and cannot be named by @username).
    pub async fn set_agent_identity(
        &self,
        user_id: i64,
        name: &str,
        username: Option<&str>,
    ) -> StorageResult<bool> {
        let changed = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE agents SET display_name = $2, username = $3 WHERE user_id = $1 \
                 AND (display_name <> $2 OR username IS DISTINCT FROM $3)",
            )
            .bind(user_id)
            .bind(name)
            .bind(username)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(changed == 1)
    }

    /// The agent last seen with this @username (without the `@`, any case).
    pub async fn agent_by_username(&self, username: &str) -> StorageResult<Option<i64>> {
        let row: Option<(i64,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT user_id FROM agents WHERE LOWER(username) = LOWER($1) LIMIT 1")
                .bind(username)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(|(id,)| id))
    }

    /// Records who changed what (DESIGN: every roster change is logged).
    pub async fn audit(
        &self,
        actor_id: i64,
        action: &str,
        subject: Option<i64>,
        details: &str,
        now_ms: i64,
    ) -> StorageResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO audit_log (at, actor_id, action, subject, details) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(now_ms)
            .bind(actor_id)
            .bind(action)
            .bind(subject)
            .bind(details)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// The audit trail, newest first.
    pub async fn audit_entries(
        &self,
        limit: i64,
    ) -> StorageResult<Vec<(i64, i64, String, Option<i64>, String)>> {
        let rows = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT at, actor_id, action, subject, details FROM audit_log ORDER BY id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }
}
