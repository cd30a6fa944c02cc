namespace Tiny.Interop;

/// <summary>A failed libc call or system call: the one exception type errno turns into.</summary>
public sealed class SyscallException(string call, int errno, string? subject = null)
    : Exception(subject is null ? $"{call}: {Tiny.Interop.Errno.Describe(errno)}" : $"{call} {subject}: {Tiny.Interop.Errno.Describe(errno)}")
{
    public string Call { get; } = call;
    public int Errno { get; } = errno;
    public string? Subject { get; } = subject;
}
