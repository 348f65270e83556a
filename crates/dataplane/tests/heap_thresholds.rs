//! Owns the check that `fix_heap_thresholds` makes glibc give back what a thread's arena freed
//! at its top (the soak's flood step). Its own test binary: it measures process-wide allocator
//! totals, so no other test may allocate beside it.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_threads_freed_arena_top_goes_back_to_the_os() {
    assert!(
        ringvpn_dataplane::fix_heap_thresholds(),
        "glibc refused the fixed thresholds"
    );
    std::thread::spawn(|| {
        // SAFETY: mallinfo2 only reads the allocator's statistics.
        let mapped = || unsafe { libc::mallinfo2() }.arena;
        // a large block freed: left dynamic, glibc would now raise its trim threshold to 8 MiB
        drop(std::hint::black_box(vec![1u8; 4 << 20]));
        let before = mapped();
        // 4 MiB in 8 KiB pieces, as a compile's zone segments come, in this thread's arena: less
        // than the 8 MiB a dynamic trim threshold would have risen to, so only the fix trims it
        let blocks: Vec<Vec<u8>> = (0..512)
            .map(|i| std::hint::black_box(vec![i as u8; 8 << 10]))
            .collect();
        let grown = mapped();
        assert!(
            grown >= before + (3 << 20),
            "the blocks came from elsewhere: {before} -> {grown}"
        );
        drop(blocks);
        let after = mapped();
        assert!(
            after < before + (1 << 20),
            "the arena kept its freed top: {before} -> {grown} -> {after} bytes"
        );
    })
    .join()
    .unwrap();
}
