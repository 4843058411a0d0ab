/**
 * Why a command is refused before anything is sent: the errors validation throws (the commands
 * stream fails such a command with the reason; it never reaches eMAG).
 */

/** Why a command was refused. */
export class InvalidCommand extends Error {
  override name = 'InvalidCommand';
}

/** The command's order or return is not in the mirror (yet): read it from eMAG by id, then validate again. */
export class NotMirrored extends InvalidCommand {
  override name = 'NotMirrored';
  constructor(
    readonly target: 'order' | 'return',
    readonly id: number,
    message: string,
  ) {
    super(message);
  }
}
