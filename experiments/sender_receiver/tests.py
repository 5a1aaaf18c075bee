"""Bots for sender_receiver (`otree test CONFIG`).

Synthetic choices: senders tell the truth or exaggerate upward by one message, receivers
follow the message or act on the prior. Cases: ``play`` (with failing submissions: a wrong
quiz, messages and actions outside the game's lists, non-numbers), ``timeouts``.
"""

import numpy as np

from otree.api import Bot, Submission, SubmissionMustFail, expect
from otree.database import db
from cheaptalk.experiments import lab

from . import C, Action, Instructions, Message, Quiz, Results, _game



class PlayerBot(Bot):
    cases = ["play", "timeouts"]

    @property
    def fresh_group(self):
        """The group as stored now (the bot's copy can predate the partner's decision)."""
        group = self.group
        return db.query(type(group)).populate_existing().filter_by(id=group.id).one()

    def play_round(self):
        game = _game(self.player)
        if self.round_number == 1:
            yield Instructions
            q = lab.finite_quiz(game)
            right = dict(quiz_sender_payoff=round(q["sender_payoff"], 2),
                         quiz_receiver_payoff=round(q["receiver_payoff"], 2),
                         quiz_receiver_sees_state=False)
            if self.case == "play":
                yield SubmissionMustFail(Quiz, dict(right, quiz_receiver_payoff=right["quiz_receiver_payoff"] + 5))
            yield Quiz, right
        if not self.subsession.played:
            return
        group = self.fresh_group
        rng = np.random.default_rng([self.participant.id_in_session, self.round_number])
        if self.player.role == C.SENDER_ROLE:
            if self.case == "play" and self.round_number == 1:
                for bad in (-1, game.n_messages, "abc", "", "1.5"):
                    yield SubmissionMustFail(Message, dict(message_index=bad))
            truthful = int(np.flatnonzero(game.meanings == group.state_index)[0])
            choice = min(truthful + int(rng.random() < 0.5), game.n_messages - 1)
            if self.case == "timeouts" and self.round_number == 2:
                yield Submission(Message, {}, timeout_happened=True)
                expect(self.fresh_group.message_is_default, True)
                expect(self.fresh_group.message_index, lab.default_message(game))
            else:
                yield Message, dict(message_index=choice)
                expect(self.fresh_group.message, float(game.message_values[choice]))
        else:
            # the receiver's page names the message, never the state
            expect('id="state"' in self.html, False)
            expect(f"“The state is {game.message_labels[group.message_index]}”" in self.html, True)
            if self.case == "play" and self.round_number == 1:
                for bad in (-1, game.n_actions, "x", ""):
                    yield SubmissionMustFail(Action, dict(action_index=bad))
            follow = game.action_index([float(group.message)])[0] if group.message in game.actions else 0
            choice = int(follow) if rng.random() < 0.7 else lab.default_action(game)
            if self.case == "timeouts" and self.round_number == 3:
                yield Submission(Action, {}, timeout_happened=True)
                expect(self.fresh_group.action_is_default, True)
            else:
                yield Action, dict(action_index=choice)
                expect(self.fresh_group.action, float(game.actions[choice]))
        yield Results
