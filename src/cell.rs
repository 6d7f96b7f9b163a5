//! Per-backend state. A Postgres backend runs our code on one thread only, so a plain cell is enough;
//! this wrapper says so once instead of scattering `static mut` through the code.

use std::cell::UnsafeCell;

pub struct BackendCell<T>(UnsafeCell<T>);

// SAFETY: Postgres backends are single-threaded and pgrx refuses calls from other threads; every
// access happens on the backend's main thread.
unsafe impl<T> Sync for BackendCell<T> {}

impl<T> BackendCell<T> {
    pub const fn new(value: T) -> Self {
        BackendCell(UnsafeCell::new(value))
    }

    /// Runs `f` with the value. Callers never hold the reference across a call that could re-enter.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: single-threaded (see above), and `f` is a short, non-reentrant critical section.
        f(unsafe { &mut *self.0.get() })
    }

    pub fn set(&self, value: T) {
        self.with(|v| *v = value)
    }
}

impl<T: Copy> BackendCell<T> {
    pub fn get(&self) -> T {
        self.with(|v| *v)
    }
}
