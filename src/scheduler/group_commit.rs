//! Group commit for the publish path. Every publish makes two durable writes, its witness
//! and its finish (DESIGN.md, "Scheduler"); on a disk where one flush costs milliseconds,
//! publishes running side by side would each pay for their own. Instead they hand both
//! writes to one writer per kind, which commits whatever has queued up in one transaction
//! and answers each caller. Nothing waits on purpose: a lone publish is committed at once,
//! and what arrives while a commit is in flight goes in the next one.
//!
//! The protocol is unchanged: a caller still sends nothing until its own witness has
//! committed, and every finish is still fenced row by row. A publish hands its finish over
//! and frees its slot at once (the post stays `publishing` under this instance's lease
//! until the finish commits, so nothing else can take it); the scheduler waits for the
//! writers before it stops. If a batch fails, each request in it is retried on its own, so
//! one bad row cannot sink the others.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::domain::{Post, now};
use crate::store::{DynStore, Finish, Lease, StoreError, StoreResult};

/// The most requests one transaction takes (SQLite's parameter limit is far above this).
const MAX_BATCH: usize = 128;

/// How often a finish that could not be recorded is tried again before the lease sweeper
/// is left to settle the post, and the pauses between tries.
const FINISH_RETRIES: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(2),
];

type WitnessRequest = (Lease, oneshot::Sender<StoreResult<bool>>);
enum FinishRequest {
    Finish(Box<(Lease, Finish)>),
    /// Answered once everything queued before it is committed.
    Barrier(oneshot::Sender<()>),
}

/// The handle publishes use; the writers stop once every handle is dropped.
#[derive(Clone)]
pub(super) struct GroupCommit {
    witness: mpsc::UnboundedSender<WitnessRequest>,
    finish: mpsc::UnboundedSender<FinishRequest>,
}

/// The running writers: [`Writers::wait`] once every [`GroupCommit`] handle is dropped.
pub(super) struct Writers(Vec<JoinHandle<()>>);

impl Writers {
    /// Waits until every queued witness and finish is committed (or given up on).
    pub(super) async fn wait(self) {
        for writer in self.0 {
            let _ = writer.await;
        }
    }
}

impl GroupCommit {
    /// Starts the two writers on the current runtime.
    pub(super) fn start(store: DynStore) -> (Self, Writers) {
        let (witness, witness_rx) = mpsc::unbounded_channel();
        let (finish, finish_rx) = mpsc::unbounded_channel();
        let writers = vec![
            tokio::spawn(witness_writer(store.clone(), witness_rx)),
            tokio::spawn(finish_writer(store, finish_rx)),
        ];
        (GroupCommit { witness, finish }, Writers(writers))
    }

    /// [`SchedulerStore::witness`](crate::store::SchedulerStore::witness), committed with
    /// whatever other witnesses are waiting.
    pub(super) async fn witness(&self, lease: &Lease) -> StoreResult<bool> {
        let (tx, rx) = oneshot::channel();
        self.witness
            .send((lease.clone(), tx))
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Queues the attempt's [`SchedulerStore::finish`](crate::store::SchedulerStore::finish),
    /// committed with whatever other finishes are waiting; the writer logs the outcome.
    pub(super) fn finish(&self, lease: Lease, finish: Finish) {
        let request = FinishRequest::Finish(Box::new((lease, finish)));
        if let Err(mpsc::error::SendError(FinishRequest::Finish(lost))) = self.finish.send(request)
        {
            // Only after the writers stopped: the lease sweeper settles the post.
            warn!(post = %lost.0.post.id, "{}", stopped());
        }
    }

    /// Waits until every finish queued so far is committed (or given up on).
    pub(super) async fn settled(&self) {
        let (tx, rx) = oneshot::channel();
        if self.finish.send(FinishRequest::Barrier(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Database("the scheduler's database writer has stopped".into())
}

async fn witness_writer(store: DynStore, mut rx: mpsc::UnboundedReceiver<WitnessRequest>) {
    let mut queue = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut queue, MAX_BATCH).await > 0 {
        let (leases, answers): (Vec<Lease>, Vec<_>) = queue.drain(..).unzip();
        match store.witness_many(&leases, now()).await {
            Ok(held) => {
                for (answer, held) in answers.into_iter().zip(held) {
                    let _ = answer.send(Ok(held));
                }
            }
            Err(e) if leases.len() > 1 => {
                warn!(error = %e, batch = leases.len(), "recording a batch of witnesses failed; recording them one by one");
                for (lease, answer) in leases.iter().zip(answers) {
                    let _ = answer.send(store.witness(lease, now()).await);
                }
            }
            Err(e) => {
                if let Some(answer) = answers.into_iter().next() {
                    let _ = answer.send(Err(e));
                }
            }
        }
    }
}

async fn finish_writer(store: DynStore, mut rx: mpsc::UnboundedReceiver<FinishRequest>) {
    let mut queue = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut queue, MAX_BATCH).await > 0 {
        let mut done = Vec::with_capacity(queue.len());
        let mut barriers = Vec::new();
        for request in queue.drain(..) {
            match request {
                FinishRequest::Finish(one) => done.push(*one),
                FinishRequest::Barrier(answer) => barriers.push(answer),
            }
        }
        record(&store, done).await;
        for answer in barriers {
            let _ = answer.send(());
        }
    }
}

async fn record(store: &DynStore, done: Vec<(Lease, Finish)>) {
    if done.is_empty() {
        return;
    }
    match store.finish_many(&done, now()).await {
        Ok(stored) => {
            for ((lease, _), stored) in done.iter().zip(stored) {
                log_outcome(lease, Ok(stored));
            }
        }
        Err(e) => {
            warn!(error = %e, batch = done.len(), "recording a batch of publish outcomes failed; recording them one by one");
            finish_one_by_one(store, done).await;
        }
    }
}

fn log_outcome(lease: &Lease, stored: StoreResult<Option<Post>>) {
    let attempt = lease.post.attempts;
    match stored {
        Ok(Some(post)) => {
            info!(post = %post.id, status = %post.status, attempt, "publish attempt finished")
        }
        Ok(None) => {
            warn!(post = %lease.post.id, attempt, "lease lost before the outcome was recorded; the new holder decides")
        }
        Err(e) => {
            warn!(post = %lease.post.id, error = %e, "could not record the publish outcome; the lease sweeper will take the post back")
        }
    }
}

/// Each finish on its own, the failed ones tried again after a pause: the platform has
/// answered, and losing its answer would leave the post to the sweeper and a
/// reconciliation.
async fn finish_one_by_one(store: &DynStore, mut pending: Vec<(Lease, Finish)>) {
    let mut pauses = FINISH_RETRIES.iter();
    loop {
        let mut failed = Vec::new();
        for (lease, finish) in pending {
            match store.finish(&lease, &finish, now()).await {
                Ok(stored) => log_outcome(&lease, Ok(stored)),
                Err(e) => failed.push((lease, finish, e)),
            }
        }
        let Some(pause) = pauses.next().filter(|_| !failed.is_empty()) else {
            for (lease, _, e) in failed {
                log_outcome(&lease, Err(e));
            }
            return;
        };
        warn!(
            failed = failed.len(),
            "recording publish outcomes failed; trying again in {pause:?}"
        );
        tokio::time::sleep(*pause).await;
        pending = failed
            .into_iter()
            .map(|(lease, finish, _)| (lease, finish))
            .collect();
    }
}
