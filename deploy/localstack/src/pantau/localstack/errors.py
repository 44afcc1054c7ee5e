"""The one error the launcher raises: what went wrong, and the fix."""


class StackError(RuntimeError):
    """A problem the user can fix; ``fix`` says how."""

    def __init__(self, problem: str, *, fix: str = "", log_tail: str = "") -> None:
        self.problem = problem
        self.fix = fix
        self.log_tail = log_tail
        super().__init__(self.render())

    def render(self) -> str:
        """The message printed to the user: problem, fix, then the log tail when there is one."""
        parts = [self.problem]
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        if self.log_tail:
            parts.append(f"Last lines of the log:\n{self.log_tail}")
        return "\n".join(parts)
