// MARK: - A small persistent pool of worker threads
//
// A meta-iteration runs one parallel loop over its tasks, thousands of times a
// second for small models (a sinusoid meta-iteration is ~0.35 ms), so threads
// are started once and reused: the caller's thread is worker 0 and threads
// 1..<N wait on a condition variable between loops. Items are handed out one at
// a time from a shared counter (dynamic scheduling: a core that is busy with
// another process does not hold the others back).
//
// Which worker runs which item must never change a result: callers give each
// worker its own state (backbone instance, buffers), each item writes only its
// own output slot, and every reduction happens after the loop, in item order,
// on the caller's thread. Then the results are bit-identical for any N.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed set of `workers` threads (the caller's plus `workers - 1` started once) that
/// run one parallel loop at a time. Not reentrant: one caller at a time.
final class WorkerPool {
    /// Threads that run a loop, the caller's included.
    let workers: Int
    private let shared: PoolState
    private var threads: [pthread_t] = []

    /// A pool of `workers` threads (at least 1; 1 runs every loop on the caller's thread).
    init(workers: Int) {
        precondition(workers >= 1, "a worker pool needs at least one worker")
        self.workers = workers
        shared = PoolState()
        for w in 1..<workers {
            let start = Unmanaged.passRetained(ThreadStart(state: shared, worker: w)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { context in
                let start = Unmanaged<ThreadStart>.fromOpaque(context!).takeRetainedValue()
                start.state.serve(worker: start.worker)
                return nil
            }, start)
            // Without the thread the pool cannot keep its promise of `workers` threads.
            precondition(status == 0, "pthread_create failed (\(status)) for worker \(w) of \(workers)")
            threads.append(thread)
        }
    }

    deinit {
        shared.shutDown()
        for thread in threads { pthread_join(thread, nil) }
    }

    /// Runs `body(worker, item)` for every item in 0..<count, spread over the workers, and
    /// returns when all have finished. `body` returning false stops handing out further items
    /// (items already started still finish). Items are claimed in increasing order, so when
    /// item i stops the loop every item below i has been (or is being) run.
    /// `body` may run concurrently on different workers: it must only touch the worker's own
    /// state and the item's own output.
    func forEach(_ count: Int, _ body: (_ worker: Int, _ item: Int) -> Bool) {
        guard count > 0 else { return }
        serial = workers == 1 || count == 1
        if serial {
            serialFinished = 0
            for item in 0..<count {
                let keepGoing = body(0, item)
                serialFinished += 1
                if !keepGoing { break }
            }
            return
        }
        withoutActuallyEscaping(body) { body in
            shared.run(count: count, workers: min(workers, count), body)
        }
    }

    /// Items of the running loop that have finished; for progress reports from worker 0.
    var finishedItems: Int { serial ? serialFinished : shared.finished }
    private var serial = true, serialFinished = 0
}

/// What a started thread needs: the shared state and its worker index.
private final class ThreadStart {
    let state: PoolState
    let worker: Int
    init(state: PoolState, worker: Int) { self.state = state; self.worker = worker }
}

// MARK: - Shared state, guarded by one mutex

/// The loop in progress and the hand-out counter. Every field is read and written with
/// `mutex` held; `body` is called without it.
///
/// @unchecked Sendable: the threads share this object by design, and the mutex (plus the
/// happens-before of pthread_mutex lock/unlock) is what makes that safe; `job` is only
/// called between `run`'s publication and its wait for all workers, while the caller's
/// closure is still alive.
private final class PoolState: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let idle = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var generation: UInt64 = 0
    private var job: ((Int, Int) -> Bool)?
    private var active = 0            // workers (beyond the caller) in the current loop
    private var busy = 0              // started threads that have not yet finished it
    private var next = 0, count = 0, finishedCount = 0
    private var stopping = false

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(idle, nil)
    }

    deinit {
        pthread_cond_destroy(idle); pthread_cond_destroy(wake); pthread_mutex_destroy(mutex)
        idle.deallocate(); wake.deallocate(); mutex.deallocate()
    }

    var finished: Int {
        pthread_mutex_lock(mutex); defer { pthread_mutex_unlock(mutex) }
        return finishedCount
    }

    /// Runs one loop on the caller (worker 0) and threads 1..<workers.
    func run(count: Int, workers: Int, _ body: @escaping (Int, Int) -> Bool) {
        pthread_mutex_lock(mutex)
        job = body
        self.count = count; next = 0; finishedCount = 0
        active = workers - 1; busy = workers - 1
        generation &+= 1
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)

        work(worker: 0, body)

        pthread_mutex_lock(mutex)
        while busy > 0 { pthread_cond_wait(idle, mutex) }
        job = nil
        pthread_mutex_unlock(mutex)
    }

    /// Claims and runs items until none are left or one says stop.
    private func work(worker: Int, _ body: (Int, Int) -> Bool) {
        pthread_mutex_lock(mutex)
        while next < count {
            let item = next
            next += 1
            pthread_mutex_unlock(mutex)
            let keepGoing = body(worker, item)
            pthread_mutex_lock(mutex)
            finishedCount += 1
            if !keepGoing { next = count }
        }
        pthread_mutex_unlock(mutex)
    }

    /// A started thread's life: wait for a loop it takes part in, work, report, repeat.
    func serve(worker: Int) {
        var seen: UInt64 = 0
        pthread_mutex_lock(mutex)
        while true {
            while !stopping && (generation == seen || worker > active) {
                if generation != seen { seen = generation }   // a loop with fewer workers: skip it
                pthread_cond_wait(wake, mutex)
            }
            if stopping { break }
            seen = generation
            pthread_mutex_unlock(mutex)
            takePart(worker: worker)
            pthread_mutex_lock(mutex)
            busy -= 1
            if busy == 0 { pthread_cond_signal(idle) }
        }
        pthread_mutex_unlock(mutex)
    }

    /// Works on the current loop. Its own function so that the reference to `job` is released
    /// before the caller counts this thread as done (`run` requires the closure not to escape).
    private func takePart(worker: Int) {
        pthread_mutex_lock(mutex)
        let body = job!
        pthread_mutex_unlock(mutex)
        work(worker: worker, body)
    }

    func shutDown() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
    }
}
