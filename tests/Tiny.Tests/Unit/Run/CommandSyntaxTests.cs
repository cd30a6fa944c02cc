using Tiny.Runtime.Spec;

namespace Tiny.Tests.Unit.Run;

public class CommandSyntaxTests
{
    static readonly CommandSyntax Run = new("run", ["--readonly", "-v", "-i", "-t"], [["-e", "--env"], ["--cap-add"]], HasCommandOperand: true);

    static string[] Normalize(params string[] args) => CommandSyntax.Normalize(args, [Run]);

    [Test]
    public async Task Repeated_options_and_their_aliases_become_one_nul_joined_value()
    {
        var args = Normalize("run", "-e", "A=1", "--env", "B=2,3", "--env=C=4", "--cap-add", "X", "--cap-add", "Y", "--", "sh");
        await Assert.That(args).IsEquivalentTo(["run", "--env", "A=1\0B=2,3\0C=4", "--cap-add", "X\0Y", "--", "sh"], CollectionOrdering.Matching);
        await Assert.That(CommandSyntax.Split(args[2])).IsEquivalentTo(["A=1", "B=2,3", "C=4"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task The_first_operand_starts_the_command_and_its_options_stay_its_own()
    {
        var args = Normalize("run", "--memory", "5M", "-v", "/bin/sh", "-c", "echo", "-e", "x", "--readonly");
        await Assert.That(args).IsEquivalentTo(["run", "--memory", "5M", "-v", "--", "/bin/sh", "-c", "echo", "-e", "x", "--readonly"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Name_equals_value_is_split_and_flags_take_no_value()
    {
        var args = Normalize("run", "--memory=5M", "--readonly", "--", "ls", "--memory=1");
        await Assert.That(args).IsEquivalentTo(["run", "--memory", "5M", "--readonly", "--", "ls", "--memory=1"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Short_flags_written_together_are_taken_apart_but_not_unknown_letters()
    {
        var args = Normalize("run", "-it", "-e", "A=1", "sh", "-it");
        await Assert.That(args).IsEquivalentTo(["run", "-i", "-t", "--env", "A=1", "--", "sh", "-it"], CollectionOrdering.Matching);
        await Assert.That(Normalize("run", "-ix", "1", "sh")).IsEquivalentTo(["run", "-ix", "1", "--", "sh"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Other_commands_pass_through()
    {
        string[] args = ["seccomp", "compile", "--out=x"];
        await Assert.That(Normalize(args)).IsEquivalentTo(args);
    }
}
