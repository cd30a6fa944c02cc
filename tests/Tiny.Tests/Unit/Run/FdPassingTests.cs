using Tiny.Interop;

namespace Tiny.Tests.Unit.Run;

/// <summary>The SCM_RIGHTS helpers the container child receives its network namespace and id-mapped rootfs with.</summary>
public class FdPassingTests
{
    [Test]
    public async Task A_sent_fd_arrives_as_a_new_fd_on_the_same_file()
    {
        var (receiving, sending) = UnixSocket.CreatePair();
        var (pipeRead, pipeWrite) = FileDescriptor.CreatePipe();
        try
        {
            await Assert.That(UnixSocket.SendFd(sending, pipeWrite)).IsEqualTo(0);
            var received = (int)UnixSocket.ReceiveFd(receiving, 0);
            await Assert.That(received).IsGreaterThan(2).And.IsNotEqualTo(pipeWrite);
            FileDescriptor.WriteAll(received, [42]);
            FileDescriptor.Close(received);
            var buffer = new byte[1];
            await Assert.That(FileDescriptor.ReadFully(pipeRead, buffer)).IsEqualTo(1);
            await Assert.That(buffer[0]).IsEqualTo((byte)42);
        }
        finally
        {
            foreach (var fd in new[] { receiving, sending, pipeRead, pipeWrite }) FileDescriptor.Close(fd);
        }
    }

    [Test]
    public async Task A_failure_sent_instead_of_an_fd_arrives_as_its_negative_errno()
    {
        var (receiving, sending) = UnixSocket.CreatePair();
        try
        {
            await Assert.That(UnixSocket.SendFailure(sending, Errno.ENOSPC)).IsEqualTo(0);
            await Assert.That(UnixSocket.ReceiveFd(receiving, 0)).IsEqualTo(-(long)Errno.ENOSPC);
            // Nothing waiting: the non-blocking receive says so rather than blocking.
            await Assert.That(UnixSocket.TryReceiveFd(receiving)).IsEqualTo(-1);
            // Once the sender shuts its side, a blocking receive ends too, though the sending fd stays open
            // (as the child's inherited copy of the network namespace thread's end does).
            await Assert.That(RawSyscall.Invoke(SyscallNumber.Shutdown, sending, UnixSocket.SHUT_WR)).IsEqualTo(0L);
            await Assert.That(UnixSocket.ReceiveFd(receiving, 0)).IsEqualTo(-(long)Errno.EBADMSG);
        }
        finally
        {
            FileDescriptor.Close(receiving);
            FileDescriptor.Close(sending);
        }
    }
}
