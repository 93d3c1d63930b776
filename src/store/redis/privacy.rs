//! The Redis side of readers' data: the registry of sites seen, author indexes read in batches, erasure steps and
//! appeals (`lua/erase.lua`, `lua/appeal.lua`, `lua/audit_append.lua`).

use redis::Value;

use super::{
    APPEAL, AUDIT_APPEND, ERASE, RedisStore, array, corrupt, event_from_json, int, status_of,
    stored_comment, text,
};
use crate::audit::{AUDIT_MAXLEN, AuditEntry};
use crate::review::{Status, StoredComment};
use crate::store::{Appealed, Erase, IndexedStatus, STREAM_MAXLEN, StoreError};

/// The SHA1 Redis knows the erasure step's script by (for measurements reading SLOWLOG).
pub fn erase_script_hash() -> String {
    ERASE.get_hash().to_string()
}

impl RedisStore {
    pub(super) async fn do_register_site(&self, site: &str) -> Result<(), StoreError> {
        let key = self.keys.sites_seen();
        let site = site.to_string();
        let _: i64 = self
            .query(|c| {
                Box::pin(
                    async move { redis::cmd("SADD").arg(&key).arg(&site).query_async(c).await },
                )
            })
            .await?;
        Ok(())
    }

    pub(super) async fn do_sites(&self) -> Result<Vec<String>, StoreError> {
        // SSCAN in pages: the registry grows with the number of sites, never with comments.
        let key = self.keys.sites_seen();
        let mut cursor = "0".to_string();
        let mut out = Vec::new();
        loop {
            let (k, c) = (key.clone(), cursor.clone());
            let (next, page): (String, Vec<String>) = self
                .query(|conn| {
                    Box::pin(async move {
                        redis::cmd("SSCAN")
                            .arg(&k)
                            .arg(&c)
                            .arg("COUNT")
                            .arg(500)
                            .query_async(conn)
                            .await
                    })
                })
                .await?;
            out.extend(page);
            if next == "0" {
                break;
            }
            cursor = next;
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The replies of `pipe`, two commands per comment, read as one pair per comment.
    async fn query_pairs<A, B>(&self, pipe: redis::Pipeline) -> Result<Vec<(A, B)>, StoreError>
    where
        A: redis::FromRedisValue + Send + 'static,
        B: redis::FromRedisValue + Send + 'static,
    {
        self.query(|c| {
            Box::pin(async move {
                let v: Vec<Value> = pipe.query_async(c).await?;
                v.chunks(2)
                    .map(|pair| {
                        Ok((
                            redis::from_redis_value_ref(&pair[0])?,
                            redis::from_redis_value_ref(&pair[1])?,
                        ))
                    })
                    .collect()
            })
        })
        .await
    }

    /// The ids of `author`'s index on `site` from rank `start` to `stop` (ZRANGE's ranks: negative ones count from
    /// the end).
    async fn author_index_range(
        &self,
        site: &str,
        author: &str,
        start: i64,
        stop: i64,
    ) -> Result<Vec<String>, StoreError> {
        let key = self.keys.author_index(site, author);
        self.query(|c| {
            Box::pin(async move {
                redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(start)
                    .arg(stop)
                    .query_async(c)
                    .await
            })
        })
        .await
    }

    pub(super) async fn do_author_comments(
        &self,
        site: &str,
        author: &str,
        offset: usize,
        max: usize,
    ) -> Result<Vec<(String, Option<StoredComment>)>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let start = i64::try_from(offset).unwrap_or(i64::MAX);
        let ids = self
            .author_index_range(
                site,
                author,
                start,
                start.saturating_add(i64::try_from(max).unwrap_or(i64::MAX) - 1),
            )
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET")
                .arg(self.keys.comment(site, id))
                .arg("data")
                .arg("status")
                .arg("e0")
                .cmd("LRANGE")
                .arg(self.keys.history(site, id))
                .arg(0)
                .arg(-1);
        }
        let replies: Vec<(Vec<Option<String>>, Vec<String>)> = self.query_pairs(pipe).await?;
        ids.into_iter()
            .zip(replies)
            .map(|(id, (f, hist))| Ok((id, stored_comment(&f, &hist)?)))
            .collect()
    }

    /// [`Store::author_statuses`] reading each comment's status and last event only (not its record): the end of
    /// the index, then one pipeline.
    pub(super) async fn do_author_statuses(
        &self,
        site: &str,
        author: &str,
        max: usize,
    ) -> Result<Vec<IndexedStatus>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let ids = self
            .author_index_range(site, author, -i64::try_from(max).unwrap_or(i64::MAX), -1)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET")
                .arg(self.keys.comment(site, id))
                .arg("status")
                .arg("e0")
                .cmd("LINDEX")
                .arg(self.keys.history(site, id))
                .arg(-1);
        }
        let replies: Vec<(Vec<Option<String>>, Option<String>)> = self.query_pairs(pipe).await?;
        let mut out = Vec::new();
        for (id, (f, last)) in ids.into_iter().zip(replies) {
            let (Some(Some(status)), Some(Some(e0))) = (f.first(), f.get(1)) else {
                continue;
            };
            // The last event: the newest of the history list, or the automatic decision when there is none.
            let event = event_from_json(last.as_deref().unwrap_or(e0))?;
            out.push(IndexedStatus {
                comment_id: id,
                status: status_of(status)?,
                changed_ms: event.decided_ms,
                last: event.kind,
            });
        }
        Ok(out)
    }

    pub(super) async fn do_erase(&self, e: Erase<'_>) -> Result<u64, StoreError> {
        let mut inv = ERASE.prepare_invoke();
        inv.key(match e.author {
            Some(a) => self.keys.author_index(e.site, a),
            None => self.keys.author_index(e.site, "none"),
        })
        .key(self.keys.labels(e.site))
        .key(self.keys.counters(e.site))
        .arg(self.keys.comment_prefix(e.site))
        .arg(self.keys.history_prefix(e.site))
        .arg(self.keys.idempotency(e.site, ""))
        .arg(if e.author.is_some() { "1" } else { "0" })
        .arg(e.records.len())
        .arg(self.keys.author_index_prefix(e.site));
        for r in e.records {
            let json = serde_json::to_string(r)
                .map_err(|err| StoreError::Corrupt(format!("record encoding: {err}")))?;
            inv.arg(&r.comment_id).arg(json);
        }
        for id in e.gone {
            inv.arg(id);
        }
        let n: i64 = self.run(inv).await?;
        Ok(n as u64)
    }

    pub(super) async fn do_append_audit(
        &self,
        scope: &str,
        entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut inv = AUDIT_APPEND.prepare_invoke();
        inv.key(self.keys.audit(scope))
            .arg(AUDIT_MAXLEN)
            .arg(&entry.actor)
            .arg(&entry.action)
            .arg(&entry.site)
            .arg(&entry.comment_id)
            .arg(&entry.before)
            .arg(&entry.after)
            .arg(&entry.label)
            .arg(&entry.note)
            .arg(&entry.detail);
        let _: String = self.run(inv).await?;
        Ok(())
    }

    pub(super) async fn do_appeal(
        &self,
        site: &str,
        comment_id: &str,
        expected: Status,
        message: &str,
        who: &str,
    ) -> Result<Appealed, StoreError> {
        let mut inv = APPEAL.prepare_invoke();
        inv.key(self.keys.comment(site, comment_id))
            .key(self.keys.history(site, comment_id))
            .key(self.keys.pending(site))
            .key(self.keys.queued(site))
            .key(self.keys.decisions(site))
            .key(self.keys.audit(site))
            .arg(comment_id)
            .arg(expected.as_str())
            .arg(message)
            .arg(who)
            .arg(STREAM_MAXLEN)
            .arg(site)
            .arg(AUDIT_MAXLEN)
            .arg(self.keys.author_index_prefix(site))
            .arg(crate::review::READER_ACTOR);
        let v: Value = self.run(inv).await?;
        let parts = array(&v)?;
        Ok(match parts {
            [code, json, decider] if int(code)? == 1 => Appealed::Done {
                event: Box::new(event_from_json(&text(json)?)?),
                decider: text(decider)?,
            },
            [code, status] if int(code)? == 0 => Appealed::WrongStatus(status_of(&text(status)?)?),
            [code] if int(code)? == 2 => Appealed::AlreadyAppealed,
            [code] if int(code)? == -1 => Appealed::NotFound,
            _ => return Err(corrupt("appeal", &v)),
        })
    }
}
