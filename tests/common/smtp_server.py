"""The tests' SMTP server: aiosmtpd with its Maildir handler, on a port the kernel picks.

Prints the port on stdout once it listens. While the file given by --refuse-flag exists,
every message gets a temporary failure (451) and its recipients a line in --refused-log.
"""

import argparse
import asyncio
import os

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP


class MaildirThatCanRefuse(Mailbox):
    def __init__(self, maildir, refuse_flag, refused_log):
        super().__init__(maildir)
        self.refuse_flag = refuse_flag
        self.refused_log = refused_log

    async def handle_DATA(self, server, session, envelope):
        if os.path.exists(self.refuse_flag):
            with open(self.refused_log, "a") as log:
                log.write(",".join(envelope.rcpt_tos) + "\n")
            return "451 4.3.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


async def serve(args):
    handler = MaildirThatCanRefuse(args.maildir, args.refuse_flag, args.refused_log)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--refuse-flag", required=True)
    parser.add_argument("--refused-log", required=True)
    asyncio.run(serve(parser.parse_args()))
