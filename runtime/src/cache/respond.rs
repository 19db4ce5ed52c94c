//! The request path: from a request to its answer.
//!
//! [`Cache::respond_with`] reads as its steps: a method that is not GET or
//! HEAD runs the handler untouched; the key (none for a credentialed
//! request the policy does not open); an entry in memory answers (a hit,
//! with no `await`, so that a hit's future holds none of the rest); else,
//! in a boxed future, the remote store may answer; else a `check`
//! validator may answer 304 before anything runs; else the request leads
//! or joins the single flight of its key ([`flight`](super::flight)), and a
//! request that cannot share one runs its handler alone. Every made entry
//! enters memory through [`commit`](Cache::commit), the generation fence,
//! and every answer is judged by the request's preconditions in one of two
//! functions: from a stored entry, or from a response that was not stored.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::HeaderMap;
use http::{Method, Response};
use http_body::Body;
use tracing::Instrument;

use super::Cache;
use super::detach::Detachable;
use super::flight::{self, Role, State};
use super::generation::Start;
use super::outbox::Invalidation;
use super::puts::Ticket;
use super::remote::StoreBudget;
use crate::conditional::{Current, Outcome, Preconditions};
use crate::response::{self, Fresh, Prepared, Stamp, Validators};
use crate::stats::Counters;
use crate::stats::route::{Answer, RouteCounters, RouteRef};
use crate::store::{Entry, EntryRef, Lookup, Stored};
use crate::{ETag, Key, Policy, RequestHead};

impl Cache {
    /// Answers a request under `policy`: from the store, with a 304, or by
    /// running `fill` (the handler) and storing what it made.
    ///
    /// `tags` are the request's own tags (the policy's literal tags are
    /// added); `check` is a cheap validator: a stored entry with another
    /// ETag is stale, and when nothing is stored and it matches the client's
    /// `If-None-Match` the answer is 304 without running anything. On a miss
    /// `fill` runs in the request's task, and finishes in a task of its own
    /// if the client goes away first, so that it always completes.
    ///
    /// ```
    /// use std::sync::{Arc, LazyLock};
    /// use cached_etag_runtime::{Cache, Fresh, Policy, RequestHead};
    ///
    /// static POLICY: LazyLock<Arc<Policy>> =
    ///     LazyLock::new(|| Policy::builder("docs::hello").tags(&["hello"]).build());
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = Cache::new();
    /// let request = http::Request::get("/hello").body(()).unwrap();
    /// let (parts, ()) = request.into_parts();
    /// type Body = http_body_util::Full<bytes::Bytes>;
    /// let response: http::Response<Body> = cache
    ///     .respond(RequestHead::from(&parts), &POLICY, Vec::new(), None, async {
    ///         Fresh::new(http::Response::new(Body::from("hello")))
    ///     })
    ///     .await;
    /// assert!(response.headers().contains_key("etag"));
    /// assert_eq!(cache.stats().stores, 1);
    /// # }
    /// ```
    pub async fn respond<B, F>(
        &self,
        request: RequestHead<'_>,
        policy: &Arc<Policy>,
        tags: Vec<String>,
        check: Option<ETag>,
        fill: F,
    ) -> Response<B>
    where
        B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
        F: Future<Output = Fresh<B>> + Send + 'static,
    {
        self.respond_with(request, policy, check, move || (tags, fill))
            .await
    }

    /// [`respond`](Self::respond), with the request's tags and the fill
    /// made by `make` only when the store cannot answer: a hit formats no
    /// tag and builds no handler future. The attribute expands to this.
    ///
    /// ```
    /// use std::sync::{Arc, LazyLock};
    /// use cached_etag_runtime::{Cache, Fresh, Policy, RequestHead};
    ///
    /// static POLICY: LazyLock<Arc<Policy>> =
    ///     LazyLock::new(|| Policy::builder("docs::item").build());
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = Cache::new();
    /// let (parts, ()) = http::Request::get("/items/7").body(()).unwrap().into_parts();
    /// type Body = http_body_util::Full<bytes::Bytes>;
    /// let id = 7;
    /// let response: http::Response<Body> = cache
    ///     .respond_with(RequestHead::from(&parts), &POLICY, None, move || {
    ///         (vec![format!("item:{id}")], async move {
    ///             Fresh::new(http::Response::new(Body::from(format!("item {id}"))))
    ///         })
    ///     })
    ///     .await;
    /// assert_eq!(cache.stats().stores, 1);
    /// # }
    /// ```
    pub async fn respond_with<B, M, F>(
        &self,
        request: RequestHead<'_>,
        policy: &Arc<Policy>,
        check: Option<ETag>,
        make: M,
    ) -> Response<B>
    where
        B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
        M: FnOnce() -> (Vec<String>, F) + Send,
        F: Future<Output = Fresh<B>> + Send + 'static,
    {
        let method = request.method;
        let route = self.route(policy);
        if method != Method::GET && method != Method::HEAD {
            // Boxed, like every path that runs the handler: the fill's
            // state then lives on the heap only for the requests that run
            // it, and the future of a hit stays small.
            let response = Box::pin(make().1).await.response;
            let status = response.status();
            self.outcome(&route, policy, &request, Answer::Method, status);
            return response;
        }
        let preconditions = Preconditions::new(request.headers);
        let per_user = self.is_per_user(policy, request.headers);
        let known_vary = policy.learned_vary_len();
        let key = (!per_user)
            .then(|| Key::of(policy, &request, known_vary))
            .filter(|key| key.len() <= self.inner.max_key_bytes);
        // A memory hit answers without an await.
        let in_memory = key.as_ref().map_or(InMemory::Absent, |key| {
            self.in_memory(key, check.as_ref(), policy)
        });
        if let InMemory::Hit(entry) = &in_memory {
            Counters::bump(&self.inner.counters.hits);
            let response = self.answer_from_stored(entry, &preconditions, method, &route);
            self.outcome(&route, policy, &request, Answer::Hit, response.status());
            return response;
        }
        // An entry in memory that the check found outdated is not looked
        // for in the remote store either; a stale one may have a fresher
        // copy there.
        let ask_remote = matches!(in_memory, InMemory::Absent | InMemory::Stale { .. });
        let stale = match in_memory {
            InMemory::Stale { entry, age } => Some(Stale { entry, age }),
            _ => None,
        };
        if let (Some(key), Some(stale)) = (&key, &stale)
            && policy.stale().serves_while_revalidating(stale.age)
        {
            let serving = Serving {
                preconditions: &preconditions,
                method,
                route: &route,
            };
            let response = self.answer_stale(key, stale, policy, known_vary, make, &serving);
            self.outcome(&route, policy, &request, Answer::Stale, response.status());
            return response;
        }
        let rest = Rest {
            request,
            policy,
            route,
            check,
            preconditions,
            per_user,
            known_vary,
            key,
            ask_remote,
            stale,
        };
        Box::pin(self.respond_slowly(rest, make)).await
    }

    /// The rest of [`respond_with`](Self::respond_with) after memory could
    /// not answer: the remote store, a 304 from the check, or the handler.
    async fn respond_slowly<B, M, F>(&self, rest: Rest<'_>, make: M) -> Response<B>
    where
        B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
        M: FnOnce() -> (Vec<String>, F) + Send,
        F: Future<Output = Fresh<B>> + Send + 'static,
    {
        let Rest {
            request,
            policy,
            route,
            check,
            preconditions,
            per_user,
            known_vary,
            key,
            ask_remote,
            mut stale,
        } = rest;
        // The check as the policy sends it: only what the handler path
        // answers with, or judges If-Match by, needs its weakness (a weak
        // comparison, all a hit makes, ignores it), and a weakness changed
        // renders the tag again.
        let check = check.map(|etag| etag.with_weak(!policy.is_strong()));
        let method = request.method;
        let counters = &self.inner.counters;
        let mut budget = self.store_budget();
        if self.inner.remote.is_some() {
            budget.route = Some(route.to_arc());
        }
        if let Some(key) = &key
            && ask_remote
            && let Some(found) = self
                .lookup_remote(key, policy, check.as_ref(), &mut budget)
                .await
        {
            match found {
                Lookup::Fresh(entry) => {
                    Counters::bump(&counters.hits);
                    let response = self.answer_from_stored(&entry, &preconditions, method, &route);
                    self.outcome(&route, policy, &request, Answer::Hit, response.status());
                    return response;
                }
                Lookup::Stale { entry, age } => {
                    let found = Stale { entry, age };
                    if policy.stale().serves_while_revalidating(age) {
                        let serving = Serving {
                            preconditions: &preconditions,
                            method,
                            route: &route,
                        };
                        let response =
                            self.answer_stale(key, &found, policy, known_vary, make, &serving);
                        self.outcome(&route, policy, &request, Answer::Stale, response.status());
                        return response;
                    }
                    stale = Some(found);
                }
            }
        }
        // A stale entry past its stale-while-revalidate window: kept by the
        // fill if it finds the same ETag, and answered with instead of an
        // error within the stale-if-error window.
        let previous = stale.as_ref().map(|stale| stale.entry.clone());
        let fallback = stale
            .filter(|stale| policy.stale().serves_on_error(stale.age))
            .map(|stale| stale.entry);
        let (tags, fill) = make();
        let tags = all_tags(policy, tags);
        let stamp = Stamp {
            policy,
            tags: &tags,
            check: check.as_ref(),
            per_user,
            known_vary,
            max_body: self.inner.max_body_bytes,
        };
        if let Some(check) = &check
            && let Some(response) = self.answer_by_check(&stamp, check, &preconditions, method)
        {
            self.outcome(&route, policy, &request, Answer::Check, response.status());
            return response;
        }
        Counters::bump(&counters.misses);
        let Some(key) = key else {
            Counters::bump(&counters.bypassed);
            let response = self
                .run_alone(None, &stamp, fill, budget, &preconditions, method, &route)
                .await;
            let reason = if per_user {
                Answer::Credentials
            } else {
                Answer::KeySize
            };
            self.outcome(&route, policy, &request, reason, response.status());
            return response;
        };

        let response = match self.inner.flights.join(&key) {
            Role::Leader(leader) => {
                let fill = self.clone().lead(
                    key,
                    Lead {
                        policy: policy.clone(),
                        tags: tags.clone(),
                        check: check.clone(),
                        known_vary,
                        previous,
                    },
                    leader,
                    fill,
                    budget,
                );
                let serving = Serving {
                    preconditions: &preconditions,
                    method,
                    route: &route,
                };
                // Boxed here, as soon as it is made: this future then holds
                // a pointer to the fill rather than the fill itself.
                self.answer_led(Detachable::new(fill), fallback, &serving)
                    .await
            }
            Role::Waiter(receiver) => match self.wait(&key, receiver, &route).await {
                Waited::Stored(entry) => {
                    self.answer_from_stored(&entry, &preconditions, method, &route)
                }
                Waited::TimedOut if let Some(stale) = &fallback => {
                    self.answer_instead_of_error(stale, &preconditions, method, &route)
                }
                // The leader's response was not for sharing: make our own.
                Waited::Unusable | Waited::TimedOut => {
                    let filled = self
                        .fill_alone(Some(&key), &stamp, fill, budget, &route)
                        .await;
                    match &fallback {
                        Some(stale) if filled.is_server_error() => {
                            self.answer_instead_of_error(stale, &preconditions, method, &route)
                        }
                        _ => self.answer_filled(filled, &preconditions, method, &route),
                    }
                }
            },
        };
        self.outcome(&route, policy, &request, Answer::Miss, response.status());
        response
    }

    /// Whether the request carries a credential header the policy does not
    /// open: then it is answered by its handler alone.
    fn is_per_user(&self, policy: &Policy, headers: &HeaderMap) -> bool {
        self.inner
            .credentials
            .iter()
            .any(|name| !policy.opens(name) && headers.contains_key(name))
    }

    /// A 304 or 412 from the `check` validator alone, when nothing is stored
    /// to judge by; `None` when the handler must run.
    fn answer_by_check<B: From<Bytes>>(
        &self,
        stamp: &Stamp<'_>,
        check: &ETag,
        preconditions: &Preconditions<'_>,
        method: &Method,
    ) -> Option<Response<B>> {
        // RFC 9110 §13.2.2 step 2 compares If-Unmodified-Since with the
        // Last-Modified, which only the handler knows: let it run.
        if preconditions.is_empty() || preconditions.has_if_unmodified_since() {
            return None;
        }
        let counters = &self.inner.counters;
        match preconditions.evaluate(method, Current::new(Some(check), None)) {
            Outcome::Proceed => None,
            Outcome::NotModified => {
                Counters::bump(&counters.not_modified);
                // RFC 9110 §15.4.5: the headers the 200 would carry, from
                // the one function that stamps them on the 200.
                let mut headers = HeaderMap::new();
                stamp.stamp(&mut headers, check, None);
                Some(response::not_modified(&headers))
            }
            Outcome::PreconditionFailed => {
                Counters::bump(&counters.precondition_failed);
                Some(response::precondition_failed())
            }
        }
    }

    /// Waits, bounded, for the leader of `key`.
    async fn wait(
        &self,
        key: &Key,
        mut receiver: flight::Receiver,
        route: &RouteCounters,
    ) -> Waited {
        Counters::bump(&self.inner.counters.coalesced);
        route.coalesced();
        let waited = tokio::time::timeout(self.inner.coalesce_timeout, async {
            // Clone out of the channel's read guard: it must not be held
            // across an await (it is not Send).
            let state = receiver.wait_for(|s| !matches!(s, State::Pending)).await;
            state.map(|state| state.clone())
        })
        .await;
        match waited {
            Ok(Ok(State::Stored(entry))) => Waited::Stored(entry),
            Ok(_) => Waited::Unusable,
            Err(_) => {
                Counters::bump(&self.inner.counters.coalesce_timeouts);
                tracing::debug!(?key, "coalesced wait timed out");
                Waited::TimedOut
            }
        }
    }

    /// Runs the handler for this request alone, outside any flight: for a
    /// request that bypasses the store (no `key`), or a waiter whose leader
    /// made nothing to share. What it stores goes through the same fence
    /// as a leader's fill.
    #[allow(clippy::too_many_arguments)]
    async fn run_alone<B, F>(
        &self,
        key: Option<&Key>,
        stamp: &Stamp<'_>,
        fill: F,
        budget: StoreBudget,
        preconditions: &Preconditions<'_>,
        method: &Method,
        route: &RouteCounters,
    ) -> Response<B>
    where
        B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
        F: Future<Output = Fresh<B>> + Send + 'static,
    {
        let filled = self.fill_alone(key, stamp, fill, budget, route).await;
        self.answer_filled(filled, preconditions, method, route)
    }

    /// What [`run_alone`](Self::run_alone) makes, before it is answered with.
    async fn fill_alone<B, F>(
        &self,
        key: Option<&Key>,
        stamp: &Stamp<'_>,
        fill: F,
        budget: StoreBudget,
        route: &RouteCounters,
    ) -> Filled<B>
    where
        B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
        F: Future<Output = Fresh<B>> + Send + 'static,
    {
        let start = self.inner.generations.start();
        #[cfg(feature = "metrics")]
        let began = std::time::Instant::now();
        let prepared = stamp.finish(fill.await).await;
        #[cfg(feature = "metrics")]
        route.filled(began.elapsed());
        match (prepared, key) {
            (Prepared::Storable(entry), Some(key)) => {
                self.store(key, start, entry, budget, route).await
            }
            (prepared, _) => Filled::from(prepared),
        }
    }

    /// The leader's fill, which outlives its request: run the handler,
    /// finish the response, store it unless an invalidation overtook it. A
    /// fill that finds the ETag of the stale entry it replaces keeps that
    /// entry's body and headers, and only extends its life.
    async fn lead<B, F>(
        self,
        key: Key,
        lead: Lead,
        leader: flight::LeaderGuard,
        fill: F,
        budget: StoreBudget,
    ) -> Filled<B>
    where
        B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
        F: Future<Output = Fresh<B>> + Send + 'static,
    {
        let start = self.inner.generations.start();
        let route = self.route(&lead.policy);
        let stamp = Stamp {
            policy: &lead.policy,
            tags: &lead.tags,
            check: lead.check.as_ref(),
            per_user: false,
            known_vary: lead.known_vary,
            max_body: self.inner.max_body_bytes,
        };
        #[cfg(feature = "metrics")]
        let began = std::time::Instant::now();
        let prepared = stamp.finish(fill.await).await;
        #[cfg(feature = "metrics")]
        route.filled(began.elapsed());
        let Prepared::Storable(mut entry) = prepared else {
            Counters::bump(&self.inner.counters.not_stored);
            if lead.previous.is_some() {
                tracing::debug!(?key, "refresh not storable; the stale entry stays");
            }
            return Filled::from(prepared);
        };
        if let Some(previous) = &lead.previous
            && previous.etag.weak_eq(&entry.etag)
        {
            Counters::bump(&self.inner.counters.revalidated_unchanged);
            entry = renewed(previous, &lead.policy);
        }
        // Waiters are served before the remote put: they need not wait for
        // the network.
        let (made, put) = self.store_fresh(&key, start, entry, Some(leader), &route);
        if let (Filled::Stored(entry), Some(put)) = (&made, put) {
            self.put_remote(&key, entry, put, budget).await;
        }
        made
    }

    /// Runs the leader's fill, which completes (and serves its waiters) even
    /// if this request's client goes away: it then finishes in a task of
    /// its own (`detach.rs`). Answers with what it made.
    /// A failed fill (a 5xx or a panic) is answered with `fallback`, a
    /// stale entry within its stale-if-error window, when there is one.
    async fn answer_led<B, F>(
        &self,
        fill: Detachable<F>,
        fallback: Option<EntryRef>,
        serving: &Serving<'_>,
    ) -> Response<B>
    where
        B: Body + From<Bytes> + Send + 'static,
        F: Future<Output = Filled<B>> + Send + 'static,
    {
        let &Serving {
            preconditions,
            method,
            route,
        } = serving;
        let filled = fill.await;
        if let Some(stale) = &fallback
            && !matches!(&filled, Ok(filled) if !filled.is_server_error())
        {
            return self.answer_instead_of_error(stale, preconditions, method, route);
        }
        match filled {
            Ok(filled) => self.answer_filled(filled, preconditions, method, route),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Stores a storable entry made under `key` since `start`: memory
    /// through the fence, then the remote store.
    async fn store<B>(
        &self,
        key: &Key,
        start: Start,
        entry: Entry,
        budget: StoreBudget,
        route: &RouteCounters,
    ) -> Filled<B> {
        let (made, put) = self.store_fresh(key, start, entry, None, route);
        if let (Filled::Stored(entry), Some(put)) = (&made, put) {
            self.put_remote(key, entry, put, budget).await;
        }
        made
    }

    /// Commits a response this instance made, and counts what came of it.
    /// Under the same fence, the remote put that follows is registered
    /// ([`puts`](super::puts)); its ticket comes back with what was made.
    /// When a flight's `leader` made it, the flight is published and
    /// closed there too: an invalidation that follows the commit must also
    /// find the flight closed, or a request that begins after the
    /// invalidation, misses, and joins the still-open flight would be
    /// handed the entry the invalidation removed.
    fn store_fresh<B>(
        &self,
        key: &Key,
        start: Start,
        entry: Entry,
        leader: Option<flight::LeaderGuard>,
        route: &RouteCounters,
    ) -> (Filled<B>, Option<Ticket>) {
        let counters = &self.inner.counters;
        let mut put = None;
        let committed = self.commit(key, start, entry, |stored| {
            if self.inner.remote.is_some() {
                put = Some(self.inner.puts.begin(key, &stored.tags));
            }
            if let Some(leader) = leader {
                leader.publish(stored.clone());
            }
        });
        match committed {
            Ok(stored) => {
                Counters::bump(&counters.stores);
                route.stored(true);
                (Filled::Stored(stored), put)
            }
            Err(entry) => {
                Counters::bump(&counters.not_stored);
                route.stored(false);
                tracing::debug!(?key, "fill overtaken by an invalidation; not stored");
                (Filled::NotStored(*entry), None)
            }
        }
    }

    /// The one way an entry enters memory, made here or read from the
    /// remote store: unless an invalidation of its key or one of its tags
    /// began after `start`. Then `then` runs with the stored entry, under
    /// the same fence: what an invalidation that follows must find done.
    /// A refused entry is handed back (boxed: refusals are rare, and the
    /// `Result` stays small).
    fn commit(
        &self,
        key: &Key,
        start: Start,
        entry: Entry,
        then: impl FnOnce(&EntryRef),
    ) -> Result<EntryRef, Box<Entry>> {
        let names = entry
            .tags
            .iter()
            .map(|t| t.as_bytes())
            .chain([key.as_bytes()]);
        let Some(_fence) = self.inner.generations.admit(start, names) else {
            return Err(Box::new(entry));
        };
        let stored = self.inner.memory.insert_shared(key.shared().clone(), entry);
        then(&stored);
        Ok(stored)
    }

    /// Puts a stored entry into the remote store, in what is left of the
    /// request's store time. The put was registered when its entry was
    /// committed; one that an invalidation overtook meanwhile is undone (see
    /// [`puts`](super::puts)), in a task of its own if this future is
    /// dropped first.
    async fn put_remote(
        &self,
        key: &Key,
        entry: &EntryRef,
        ticket: Ticket,
        mut budget: StoreBudget,
    ) {
        let Some(remote) = &self.inner.remote else {
            return;
        };
        let mut registered = Registered {
            put: Some((self.clone(), ticket)),
            key,
        };
        let entry = entry.to_entry();
        let put = remote.put(key.as_bytes(), &entry);
        let _ = self.remote_call_within("put", put, &mut budget).await;
        let Some((_, ticket)) = registered.put.take() else {
            return;
        };
        if self.inner.puts.end(key, ticket) {
            self.undo_put(key.clone()).await;
        }
    }

    /// Invalidates `key` again after an overtaken put, then lets remote
    /// reads of it through.
    async fn undo_put(&self, key: Key) {
        tracing::debug!(?key, "put overtaken by an invalidation; undoing it");
        let again = Invalidation::Key {
            key: key.clone(),
            keep: None,
            soft: false,
        };
        self.invalidate_everywhere(again).await;
        self.inner.puts.settle(&key);
    }

    /// What memory holds for `key`. A cheap validator that disagrees with
    /// the stored ETag means the entry describes an old state: it is
    /// removed. One that agrees with a stale entry's ETag proves it
    /// current: its life is extended and it answers as a hit.
    fn in_memory(&self, key: &Key, check: Option<&ETag>, policy: &Policy) -> InMemory {
        let memory = &self.inner.memory;
        let agrees = |entry: &EntryRef| check.is_none_or(|check| check.weak_eq(&entry.etag));
        match memory.lookup(key.as_bytes()) {
            None => InMemory::Absent,
            Some(Lookup::Fresh(entry)) if agrees(&entry) => InMemory::Hit(entry),
            Some(Lookup::Stale { entry, age }) if check.is_none() => InMemory::Stale { entry, age },
            Some(Lookup::Stale { entry, .. }) if agrees(&entry) => {
                let start = self.inner.generations.start();
                match self.commit(key, start, renewed(&entry, policy), |_| ()) {
                    Ok(renewed) => {
                        Counters::bump(&self.inner.counters.revalidated_unchanged);
                        InMemory::Hit(renewed)
                    }
                    Err(_) => InMemory::Outdated,
                }
            }
            Some(_) => {
                memory.remove(key.as_bytes(), None);
                InMemory::Outdated
            }
        }
    }

    /// Answers from a stale entry within its stale-while-revalidate window
    /// (RFC 5861 §3), at once, and starts one refresh behind it unless a
    /// fill of the key is already under way. The refresh runs in its own
    /// task, so a client that goes away does not cancel it, and it commits
    /// through the fence like every fill: an invalidation that lands while
    /// it runs wins. A conditional request is judged by the stale entry's
    /// ETag: the answer, 200 or 304, is the one a cache serving the stale
    /// response gives.
    #[allow(clippy::too_many_arguments)]
    fn answer_stale<B, M, F>(
        &self,
        key: &Key,
        stale: &Stale,
        policy: &Arc<Policy>,
        known_vary: usize,
        make: M,
        serving: &Serving<'_>,
    ) -> Response<B>
    where
        B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
        M: FnOnce() -> (Vec<String>, F) + Send,
        F: Future<Output = Fresh<B>> + Send + 'static,
    {
        let counters = &self.inner.counters;
        let &Serving {
            preconditions,
            method,
            route,
        } = serving;
        if let Role::Leader(leader) = self.inner.flights.join(key) {
            Counters::bump(&counters.refreshes);
            let (tags, fill) = make();
            let lead = Lead {
                policy: policy.clone(),
                tags: all_tags(policy, tags),
                check: None,
                known_vary,
                previous: Some(stale.entry.clone()),
            };
            let mut budget = self.store_budget();
            if self.inner.remote.is_some() {
                budget.route = Some(self.route(policy).to_arc());
            }
            let refresh = self.clone().lead(key.clone(), lead, leader, fill, budget);
            tokio::spawn(
                async move {
                    let _: Filled<B> = refresh.await;
                }
                .in_current_span(),
            );
        }
        Counters::bump(&counters.hits);
        Counters::bump(&counters.stale_served);
        self.answer_from_stored(&stale.entry, preconditions, method, route)
    }

    /// Answers with a stale entry instead of a failed fill (RFC 5861 §4).
    fn answer_instead_of_error<B: From<Bytes>>(
        &self,
        stale: &EntryRef,
        preconditions: &Preconditions<'_>,
        method: &Method,
        route: &RouteCounters,
    ) -> Response<B> {
        let counters = &self.inner.counters;
        Counters::bump(&counters.errors_masked);
        route.served_stale();
        Counters::bump(&counters.stale_served);
        tracing::debug!("fill failed; answered with the stale entry");
        self.answer_from_stored(stale, preconditions, method, route)
    }

    /// The remote store's entry under `key`, admitted into memory if it
    /// could have been stored here and nothing since has invalidated it.
    async fn lookup_remote(
        &self,
        key: &Key,
        policy: &Policy,
        check: Option<&ETag>,
        budget: &mut StoreBudget,
    ) -> Option<Lookup> {
        let remote = self.inner.remote.as_ref()?;
        // An invalidation that lands while the remote answer is in flight
        // must win: the answer enters memory only through the fence.
        let start = self.inner.generations.start();
        let entry = self
            .remote_call_within("get", remote.get(key.as_bytes()), budget)
            .await??;
        let admitted = response::admit_remote(entry, policy, SystemTime::now()).filter(|e| {
            !self.inner.outbox.blocks(key.as_bytes(), &e.tags, &e.etag)
                && !self.inner.puts.blocks(key)
        });
        let Some(entry) = admitted else {
            Counters::bump(&self.inner.counters.remote_refused);
            tracing::debug!(?key, "remote entry refused");
            return None;
        };
        let entry = self.commit(key, start, entry, |_| ()).ok()?;
        // As in memory: a check that disagrees makes the entry stale.
        if let Some(check) = check
            && !check.weak_eq(&entry.etag)
        {
            self.inner.memory.remove(key.as_bytes(), None);
            return None;
        }
        Some(match entry.stale_age() {
            None => Lookup::Fresh(entry),
            Some(age) => Lookup::Stale { entry, age },
        })
    }

    fn answer_filled<B: Body + From<Bytes>>(
        &self,
        made: Filled<B>,
        preconditions: &Preconditions<'_>,
        method: &Method,
        route: &RouteCounters,
    ) -> Response<B> {
        match made {
            Filled::Stored(entry) => self.answer_from_stored(&entry, preconditions, method, route),
            Filled::NotStored(entry) => {
                let entry = Stored::from(entry);
                #[cfg(feature = "compression-core")]
                if let Some(response) =
                    self.answer_compressed(&entry, None, preconditions, method, route)
                {
                    return response;
                }
                self.answer_from_entry(&entry, preconditions, method, route)
            }
            Filled::PassThrough {
                response,
                validators,
            } => self.answer_unstored(response, validators, preconditions, method, route),
        }
    }

    fn answer_from_stored<B: From<Bytes>>(
        &self,
        entry: &EntryRef,
        preconditions: &Preconditions<'_>,
        method: &Method,
        route: &RouteCounters,
    ) -> Response<B> {
        #[cfg(feature = "compression-core")]
        if let Some(response) =
            self.answer_compressed(entry, Some(entry.variants()), preconditions, method, route)
        {
            return response;
        }
        self.answer_from_entry(entry, preconditions, method, route)
    }

    /// Answers from an entry.
    fn answer_from_entry<B: From<Bytes>>(
        &self,
        entry: &Stored,
        preconditions: &Preconditions<'_>,
        method: &Method,
        route: &RouteCounters,
    ) -> Response<B> {
        let current = Current::new(Some(&entry.etag), entry.last_modified());
        match self.evaluate(preconditions, method, current, entry.body.len(), route) {
            Outcome::Proceed => response::from_entry(entry),
            Outcome::NotModified => response::not_modified_entry(entry),
            Outcome::PreconditionFailed => response::precondition_failed(),
        }
    }

    /// Answers with a response that was not stored, judged by the validators
    /// its making computed (none for a status other than 200).
    fn answer_unstored<B: Body + From<Bytes>>(
        &self,
        response: Response<B>,
        validators: Option<Validators>,
        preconditions: &Preconditions<'_>,
        method: &Method,
        route: &RouteCounters,
    ) -> Response<B> {
        let Some(validators) = validators else {
            return response;
        };
        let current = Current::new(Some(&validators.etag), validators.last_modified);
        let size = response.body().size_hint().exact().unwrap_or(0) as usize;
        match self.evaluate(preconditions, method, current, size, route) {
            Outcome::Proceed => response,
            Outcome::NotModified => response::not_modified(response.headers()),
            Outcome::PreconditionFailed => response::precondition_failed(),
        }
    }

    /// The outcome of the request's preconditions on `current`, counted.
    pub(super) fn evaluate(
        &self,
        preconditions: &Preconditions<'_>,
        method: &Method,
        current: Current<'_>,
        body_len: usize,
        route: &RouteCounters,
    ) -> Outcome {
        if preconditions.is_empty() {
            return Outcome::Proceed;
        }
        let outcome = preconditions.evaluate(method, current);
        let counters = &self.inner.counters;
        match outcome {
            Outcome::NotModified => {
                Counters::bump(&counters.not_modified);
                Counters::add(&counters.bytes_saved, body_len as u64);
                route.saved(body_len);
            }
            Outcome::PreconditionFailed => Counters::bump(&counters.precondition_failed),
            Outcome::Proceed => {}
        }
        outcome
    }
}

/// What memory holds for a key.
enum InMemory {
    /// A live entry that the request's check, if any, agrees with.
    Hit(EntryRef),
    /// An entry past its ttl but within its stale window (no check).
    Stale { entry: EntryRef, age: Duration },
    /// An entry the check found outdated, now removed.
    Outdated,
    /// Nothing.
    Absent,
}

/// What an answer is judged by and counted in.
struct Serving<'a> {
    preconditions: &'a Preconditions<'a>,
    method: &'a Method,
    route: &'a RouteCounters,
}

/// A stale entry, and how long ago it stopped being fresh.
struct Stale {
    entry: EntryRef,
    age: Duration,
}

/// How a wait for another request's fill ended.
enum Waited {
    /// The leader stored this entry.
    Stored(EntryRef),
    /// The leader made nothing to share.
    Unusable,
    /// The wait ran out of time.
    TimedOut,
}

/// What a leader's fill needs besides the handler.
struct Lead {
    policy: Arc<Policy>,
    tags: Vec<Arc<str>>,
    check: Option<ETag>,
    known_vary: usize,
    /// The stale entry the fill replaces, kept if its ETag is unchanged.
    previous: Option<EntryRef>,
}

/// `entry` with its life started again under `policy`: the same body,
/// headers and validators (a refresh found the same ETag).
fn renewed(entry: &Stored, policy: &Policy) -> Entry {
    let stale_for = policy.stale().longest();
    entry.with_life(SystemTime::now(), policy.ttl(), stale_for)
}

/// What [`Cache::respond_with`] worked out before memory missed, for the
/// rest of the request path.
struct Rest<'a> {
    request: RequestHead<'a>,
    policy: &'a Arc<Policy>,
    route: RouteRef<'a>,
    check: Option<ETag>,
    preconditions: Preconditions<'a>,
    per_user: bool,
    known_vary: usize,
    key: Option<Key>,
    ask_remote: bool,
    /// A stale entry past its stale-while-revalidate window.
    stale: Option<Stale>,
}

/// What filling a miss made, ready to answer with.
enum Filled<B> {
    /// Stored in memory (and handed to waiters).
    Stored(EntryRef),
    /// Storable, but not stored: no key, or an invalidation overtook it.
    NotStored(Entry),
    /// Not storable: passed through as the handler made it.
    PassThrough {
        response: Response<B>,
        validators: Option<Validators>,
    },
}

impl<B> Filled<B> {
    /// Whether the fill failed on the server's side (RFC 9110 §15.6): what
    /// a stale entry may be answered with instead.
    fn is_server_error(&self) -> bool {
        matches!(self, Filled::PassThrough { response, .. } if response.status().is_server_error())
    }
}

impl<B> From<Prepared<B>> for Filled<B> {
    fn from(prepared: Prepared<B>) -> Self {
        match prepared {
            Prepared::Storable(entry) => Filled::NotStored(entry),
            Prepared::Unstorable {
                response,
                validators,
            } => Filled::PassThrough {
                response,
                validators,
            },
        }
    }
}

/// The policy's literal tags followed by the request's own.
fn all_tags(policy: &Policy, tags: Vec<String>) -> Vec<Arc<str>> {
    let mut all = Vec::with_capacity(policy.tags().len() + tags.len());
    all.extend(policy.tags().iter().cloned());
    all.extend(tags.into_iter().map(Arc::from));
    all
}

impl Cache {
    /// The one place a request's outcome is recorded: its route's counters
    /// (and `metrics` series) and one `debug` event with the outcome (`hit`,
    /// `miss`, `not_modified` from a `check`, or `bypass` with the reason:
    /// `method`, `credentials`, `key_size`), the route and the request's
    /// readable parts. Never header values, the query (it may carry tokens)
    /// or the key's bytes; fields are only computed when the event is
    /// enabled.
    fn outcome(
        &self,
        route: &RouteCounters,
        policy: &Policy,
        request: &RequestHead<'_>,
        answer: Answer,
        status: http::StatusCode,
    ) {
        route.answered(answer, status);
        #[cfg(feature = "metrics")]
        if answer == Answer::Miss {
            // A fill may have stored, evicted or found entries expired.
            self.inner.series.held(&self.inner.memory);
        }
        let (outcome, reason) = answer.describe();
        tracing::debug!(
            outcome,
            reason,
            route = policy.name(),
            method = %request.method,
            authority = request.authority(),
            path = request.uri.path(),
            status = status.as_u16(),
            "cache"
        );
    }
}

/// A registered put whose future may be dropped before it returns: then
/// the registration ends here, and an overtaken put is undone in a task.
struct Registered<'a> {
    put: Option<(Cache, Ticket)>,
    key: &'a Key,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        if let Some((cache, ticket)) = self.put.take()
            && cache.inner.puts.end(self.key, ticket)
        {
            let key = self.key.clone();
            tokio::spawn(async move { cache.undo_put(key).await });
        }
    }
}
