using System.Runtime.InteropServices;

namespace Tiny.Interop;

/// <summary>CLOCK_MONOTONIC in nanoseconds (clock_gettime(2)), the clock <c>tiny run --timing</c> reads on both sides of clone.</summary>
public static unsafe partial class Clock
{
    public const int CLOCK_MONOTONIC = 1;

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    [SuppressGCTransition]
    private static partial int ClockGettime(int clock, long* timespec);

    public static long MonotonicNanoseconds()
    {
        long* timespec = stackalloc long[2];
        ClockGettime(CLOCK_MONOTONIC, timespec);
        return timespec[0] * 1_000_000_000 + timespec[1];
    }
}
