"""Messages as mail servers and mailbox providers write them, to append to the test mailbox.

Shaped after real ones (Postfix's bounce, Exim's with and without a report part, Exchange Online's
non-delivery report, an ARF report of a feedback loop, a mail client's List-Unsubscribe mail, an
out-of-office reply); the addresses, ids and tokens are the test's own.
"""

from email.utils import format_datetime

from django.utils import timezone


def _date() -> str:
    return format_datetime(timezone.now())


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def original_headers(*, return_path: str, to: str, subject: str = "Spring season") -> str:
    return (
        f"Return-Path: <{return_path}>\n"
        "From: Demo Konserthus <no-reply@example.org>\n"
        f"To: {to}\n"
        f"Subject: {subject}\n"
        "Message-ID: <175000000000.1234.5678@registry.example.org>\n"
        "List-Unsubscribe: <https://example.org/en/unsubscribe/x/>\n"
        "Feedback-ID: 1:news:newsletter:registry\n"
    )


def postfix_bounce(*, return_path: str, recipient: str, status="5.1.1", reply="550") -> bytes:
    diagnostic = (
        f"{reply} {status} <{recipient}>: Recipient address rejected: User unknown in virtual\n"
        "    mailbox table"
    )
    return _crlf(
        f"""Return-Path: <>
Delivered-To: {return_path}
Date: {_date()}
From: MAILER-DAEMON@mail.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {return_path}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="3D1B6A0C2E.1733480000/mail.example.net"
Content-Transfer-Encoding: 8bit
Message-Id: <20241206101010.3D1B6A0C2E@mail.example.net>

This is a MIME-encapsulated message.

--3D1B6A0C2E.1733480000/mail.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

                   The mail system

<{recipient}>: host mx.example.se[192.0.2.10] said: {diagnostic} (in reply to RCPT TO command)

--3D1B6A0C2E.1733480000/mail.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.net
X-Postfix-Queue-ID: 3D1B6A0C2E
X-Postfix-Sender: rfc822; {return_path}
Arrival-Date: Fri,  6 Dec 2024 10:10:09 +0100 (CET)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: failed
Status: {status}
Remote-MTA: dns; mx.example.se
Diagnostic-Code: smtp; {diagnostic}

--3D1B6A0C2E.1733480000/mail.example.net
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

{original_headers(return_path=return_path, to=recipient)}
--3D1B6A0C2E.1733480000/mail.example.net--
"""
    )


def exim_bounce(*, return_path: str, recipient: str, status="5.2.2", text="Mailbox full") -> bytes:
    """Exim 4's report (with X-Failed-Recipients, as Exim always adds)."""
    return _crlf(
        f"""Return-path: <>
Envelope-to: {return_path}
Delivery-date: {_date()}
Received: from Debian-exim by mx.example.net with local (Exim 4.96)
\tid 1tJabc-000123-AB
\tfor {return_path}; {_date()}
X-Failed-Recipients: {recipient}
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@mx.example.net>
To: {return_path}
Content-Type: multipart/report; report-type=delivery-status; boundary=1733480000-eximdsn-846930886
MIME-Version: 1.0
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1tJabc-000123-AB@mx.example.net>
Date: {_date()}

--1733480000-eximdsn-846930886
Content-type: text/plain; charset=us-ascii

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {recipient}
    host mx.example.no [192.0.2.20]
    SMTP error from remote mail server after RCPT TO:<{recipient}>:
    552 {status} {text}

--1733480000-eximdsn-846930886
Content-type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Action: failed
Final-Recipient: rfc822;{recipient}
Status: {status}
Remote-MTA: dns; mx.example.no
Diagnostic-Code: smtp; 552 {status} {text}

--1733480000-eximdsn-846930886
Content-type: message/rfc822

{original_headers(return_path=return_path, to=recipient)}
Hello.

--1733480000-eximdsn-846930886--
"""
    )


def exim_plain_bounce(*, return_path: str, recipient: str) -> bytes:
    """An older Exim's bounce: plain text, the failed address in a header of its own."""
    return _crlf(
        f"""Return-path: <>
Envelope-to: {return_path}
X-Failed-Recipients: {recipient}
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@old.example.net>
To: {return_path}
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1aBcDe-0001Xy-Zz@old.example.net>
Date: {_date()}

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {recipient}
    SMTP error from remote mail server after RCPT TO:<{recipient}>:
    host mx.example.no [192.0.2.30]: 550 5.1.1 <{recipient}>: No such user here

------ This is a copy of the message, including all the headers. ------

{original_headers(return_path=return_path, to=recipient)}
Hello.
"""
    )


def exchange_ndr(*, return_path: str, recipient: str, status="5.1.10") -> bytes:
    """Exchange Online's non-delivery report."""
    return _crlf(
        f"""From: postmaster@contoso.onmicrosoft.com
To: <{return_path}>
Date: {_date()}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="_000_AM0PR01MB1234ABCDprodexchangelabscom_"
X-MS-Exchange-Message-Is-Ndr:
Content-Language: en-US
Message-ID: <AM0PR01MB12345E0A@AM0PR01MB1234.eurprd01.prod.exchangelabs.com>
In-Reply-To: <175000000000.1234.5678@registry.example.org>
Subject: Undeliverable: Spring season
Auto-Submitted: auto-replied

--_000_AM0PR01MB1234ABCDprodexchangelabscom_
Content-Type: multipart/alternative;
\tboundary="_002_AM0PR01MB1234ABCDprodexchangelabscom_"

--_002_AM0PR01MB1234ABCDprodexchangelabscom_
Content-Type: text/plain; charset="us-ascii"

Your message to {recipient} couldn't be delivered.
{recipient.split("@")[0]} wasn't found at contoso.com.

--_002_AM0PR01MB1234ABCDprodexchangelabscom_
Content-Type: text/html; charset="us-ascii"

<html><body><p>Your message to {recipient} couldn't be delivered.</p></body></html>

--_002_AM0PR01MB1234ABCDprodexchangelabscom_--

--_000_AM0PR01MB1234ABCDprodexchangelabscom_
Content-Type: message/delivery-status

Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.exchangelabs.com
Received-From-MTA: dns;mail.example.org
Arrival-Date: Fri, 6 Dec 2024 09:10:10 +0000

Final-Recipient: rfc822;{recipient}
Action: failed
Status: {status}
Diagnostic-Code: smtp;550 {status} RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup

--_000_AM0PR01MB1234ABCDprodexchangelabscom_
Content-Type: message/rfc822

{original_headers(return_path=return_path, to=recipient)}
Hello.

--_000_AM0PR01MB1234ABCDprodexchangelabscom_--
"""
    )


def arf_report(*, return_path: str, feedback_type: str = "abuse") -> bytes:
    """A feedback loop's complaint (RFC 5965), the recipient redacted as providers do."""
    return _crlf(
        f"""From: Feedback Loop <feedbackloop@fbl.example.com>
To: fbl@example.org
Subject: Email Feedback Report for IP 192.0.2.1
Date: {_date()}
Message-ID: <arf-20241206-0001@fbl.example.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="----=_Part_ARF"

------=_Part_ARF
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP 192.0.2.1 on
{_date()}. For more information about this format please see
http://www.mipassoc.org/arf/.

------=_Part_ARF
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: ExampleFBL/1.0
Version: 1
Original-Mail-From: <{return_path}>
Original-Rcpt-To: <redacted@example.se>
Arrival-Date: {_date()}
Source-IP: 192.0.2.1
Reported-Domain: example.org

------=_Part_ARF
Content-Type: message/rfc822
Content-Disposition: inline

{original_headers(return_path=return_path, to="redacted@example.se")}
Hello.

------=_Part_ARF--
"""
    )


def unsubscribe_mail(*, to: str, subject: str, sender="marta@example.se") -> bytes:
    """What a mail client sends when the person presses the mailto of List-Unsubscribe."""
    return _crlf(
        f"""From: =?utf-8?q?M=C3=A4rta_=C3=85ngstr=C3=B6m?= <{sender}>
To: {to}
Subject: {subject}
Date: {_date()}
Message-ID: <unsub-{abs(hash(subject))}@mail.example.se>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

This message was sent automatically to unsubscribe.
"""
    )


def out_of_office(*, to: str) -> bytes:
    return _crlf(
        f"""From: Erik Person <erik@example.se>
To: {to}
Subject: =?utf-8?q?Autosvar=3A_Spring_season?=
Date: {_date()}
Message-ID: <ooo-1@example.se>
Auto-Submitted: auto-replied
X-Autoreply: yes
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

I am away until Monday.
"""
    )
