//! The timer hyper bounds each request's headers with (`--request-timeout`, see
//! [`crate::http::serve`]): one per connection, whose tokio timer is kept from one
//! request to the next.
//!
//! hyper makes a new header timer for every request on a connection (the next head must
//! arrive within the timeout, counted from when hyper starts to read it) and drops it once
//! the head is in. With hyper-util's `TokioTimer`, each of them is a tokio timer put into
//! tokio's timer wheel and taken out again (a lock each way, and often a wake-up of a
//! parked worker, since an empty wheel now has something due): that cost the registry 6
//! points of its lookup rate (`BENCHMARKS.md`). Here every header timer of one connection
//! shares one tokio timer. It stays in the wheel between requests, is moved only when it
//! fires before the current head's deadline (once per timeout, not once per request), and a
//! head that is late is still cut off at its own deadline.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use parking_lot::Mutex;

use hyper::rt::{Sleep, Timer};
use tokio::time::Instant;

/// The header timer of one connection (give each connection its own: it is not `Clone`,
/// since a clone would share the connection's timer).
#[derive(Default)]
pub struct ConnectionTimer {
    /// The connection's tokio timer, made when first needed.
    shared: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

/// One of hyper's sleeps: until `deadline`, on the connection's shared timer.
struct HeadDeadline {
    deadline: Instant,
    shared: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

impl Future for HeadDeadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        // Only this connection's task polls it: the lock is never contended.
        let mut shared = self.shared.lock();
        let timer = shared.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        // Due after this deadline (an earlier head's, moved sooner since): bring it forward.
        if timer.deadline() > deadline {
            timer.as_mut().reset(deadline);
        }
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if timer.deadline() >= deadline {
                return Poll::Ready(());
            }
            // It was due at an earlier head's deadline: set it for this one.
            timer.as_mut().reset(deadline);
        }
    }
}

impl Sleep for HeadDeadline {}

impl Timer for ConnectionTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(HeadDeadline {
            deadline: Instant::from_std(deadline),
            shared: self.shared.clone(),
        })
    }

    /// tokio's clock, so a test's paused clock is the timer's.
    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: std::time::Instant) {
        match sleep.as_mut().downcast_mut_pin::<HeadDeadline>() {
            // Checked against the shared timer when next polled.
            Some(mut head) => head.deadline = Instant::from_std(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn each_heads_deadline_is_its_own_though_they_share_one_timer() {
        let timer = ConnectionTimer::default();
        // As hyper does: a sleep for each head, polled while the head is awaited, dropped
        // once it is in; the next one a second later.
        for _ in 0..10 {
            let mut sleep = timer.sleep(3 * SECOND);
            assert!((&mut sleep).now_or_never().is_none());
            tokio::time::advance(SECOND).await;
            assert!((&mut sleep).now_or_never().is_none());
        }
        // The last head never comes: over at its deadline, not an earlier head's.
        let mut sleep = timer.sleep(3 * SECOND);
        assert!((&mut sleep).now_or_never().is_none());
        tokio::time::advance(3 * SECOND - Duration::from_millis(1)).await;
        assert!((&mut sleep).now_or_never().is_none());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!((&mut sleep).now_or_never().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleep_ends_at_its_deadline_when_moved_later_or_sooner() {
        let timer = ConnectionTimer::default();
        let mut sleep = timer.sleep(10 * SECOND);
        assert!((&mut sleep).now_or_never().is_none());
        timer.reset(&mut sleep, timer.now() + 20 * SECOND);
        tokio::time::advance(15 * SECOND).await;
        assert!((&mut sleep).now_or_never().is_none());
        tokio::time::advance(5 * SECOND).await;
        assert!((&mut sleep).now_or_never().is_some());

        let mut sleep = timer.sleep(10 * SECOND);
        assert!((&mut sleep).now_or_never().is_none());
        timer.reset(&mut sleep, timer.now() + 2 * SECOND);
        tokio::time::advance(2 * SECOND).await;
        assert!((&mut sleep).now_or_never().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_wakes_the_task_that_waits() {
        let timer = ConnectionTimer::default();
        let started = Instant::now();
        timer.sleep(5 * SECOND).await;
        assert_eq!(started.elapsed(), 5 * SECOND);
        // After a first sleep over, the shared timer is due in the past: the next sleep
        // still waits its own time.
        timer.sleep(2 * SECOND).await;
        assert_eq!(started.elapsed(), 7 * SECOND);
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleep_of_another_timer_is_replaced() {
        let timer = ConnectionTimer::default();
        let mut sleep = hyper_util::rt::TokioTimer::new().sleep(60 * SECOND);
        timer.reset(&mut sleep, timer.now() + SECOND);
        tokio::time::advance(SECOND).await;
        assert!((&mut sleep).now_or_never().is_some());
    }
}
