// Polls in the chat: a card per poll with its options, our votes and everyone's counts. The
// polls component holds the truth; each new poll and each answer comes back to every occupant.

import { h } from './dom.js';
import { icon } from './icons.js';

export const MAX_POLL_ANSWERS = 10;
const MAX_POLL_TEXT = 200;  // characters per question or option (the component's bound is the whole message)

export class PollsView {
    // `send(command, body)` reaches the component; `append(card)` puts a card in the chat.
    constructor({ conference, append, notify }) {
        this.conference = conference;
        this.append = append;
        this.notify = notify;
        this.polls = new Map();
    }

    onPayload(payload) {
        if (payload.command === 'new-poll') {
            this.add(payload.pollId, payload);
            if (payload.senderId !== this.conference().nick) this.notify(`${payload.senderName || 'Someone'} started a poll: ${payload.question}`);
        } else if (payload.command === 'answer-poll') {
            const poll = this.polls.get(payload.pollId);
            if (!poll || !Array.isArray(payload.answers)) return;
            poll.votes.set(payload.senderId, payload.answers.map(Boolean));
            this.render(poll);
        } else if (payload.command === 'old-polls') {
            for (const old of payload.polls || []) {
                const poll = this.add(old.pollId, old);
                old.answers?.forEach((answer, i) => {
                    for (const voter of answer.voters || []) {
                        const votes = poll.votes.get(voter.id) || poll.answers.map(() => false);
                        votes[i] = true;
                        poll.votes.set(voter.id, votes);
                    }
                });
                this.render(poll);
            }
        }
    }

    add(id, { question, answers, senderName }) {
        if (typeof id !== 'string' || this.polls.has(id)) return this.polls.get(id);
        const poll = {
            id, question: String(question || ''), answers: (answers || []).map(a => String(a?.name ?? '')), senderName: senderName || '',
            votes: new Map(), card: h('div', { class: 'poll', 'data-testid': 'poll', 'data-poll-id': id }),
        };
        this.polls.set(id, poll);
        this.render(poll);
        this.append(poll.card);
        return poll;
    }

    render(poll) {
        const mine = poll.votes.get(this.conference().nick) || poll.answers.map(() => false);
        const counts = poll.answers.map((_, i) => [...poll.votes.values()].filter(v => v[i]).length);
        const voters = [...poll.votes.values()].filter(v => v.some(Boolean)).length;
        poll.card.replaceChildren(
            h('div', { class: 'from' }, icon('poll', { size: 16 }), `Poll by ${poll.senderName || 'someone'}`),
            h('div', { class: 'question' }, poll.question),
            ...poll.answers.map((name, i) => {
                const share = voters ? Math.round(counts[i] / voters * 100) : 0;
                const option = h('button', { class: 'poll-option', 'data-testid': 'poll-option', 'aria-pressed': String(mine[i]),
                    'aria-label': `${name}: ${counts[i]} vote${counts[i] === 1 ? '' : 's'}` },
                h('span', { class: 'bar', style: `width:${share}%` }),
                h('span', { class: 'option-name' }, name),
                h('span', { class: 'votes', 'data-testid': 'poll-votes' }, String(counts[i])));
                option.onclick = () => {
                    const answers = [...mine];
                    answers[i] = !answers[i];
                    try {
                        this.conference().answerPoll(poll.id, answers);
                    } catch (error) {
                        this.notify(error.message);
                    }
                };
                return option;
            }),
            h('div', { class: 'hint' }, `${voters} voted`));
    }

    // The dialog that makes a poll; resolves when sent or cancelled.
    createDialog(parent) {
        const question = h('input', { 'data-testid': 'poll-question', 'aria-label': 'Question', placeholder: 'Ask a question', maxlength: String(MAX_POLL_TEXT) });
        const answers = h('div', { class: 'poll-answers' });
        const problem = h('p', { class: 'hint', 'data-testid': 'poll-problem', 'aria-live': 'polite' });
        const addAnswer = () => {
            if (answers.children.length >= MAX_POLL_ANSWERS) return;
            answers.append(h('input', { 'data-testid': 'poll-answer', 'aria-label': `Option ${answers.children.length + 1}`,
                placeholder: `Option ${answers.children.length + 1}`, maxlength: String(MAX_POLL_TEXT) }));
        };
        addAnswer();
        addAnswer();
        const dialog = h('dialog', { 'data-testid': 'poll-dialog', 'aria-label': 'Create a poll' },
            h('h2', {}, 'Create a poll'), question, answers,
            h('button', { class: 'link', 'data-testid': 'poll-add-answer', onclick: addAnswer }, 'Add an option'),
            problem,
            h('div', { class: 'row' },
                h('button', { class: 'primary', 'data-testid': 'poll-submit', onclick: () => {
                    const options = [...answers.children].map(i => i.value.trim()).filter(Boolean);
                    if (!question.value.trim() || options.length < 2) {
                        problem.textContent = 'A poll needs a question and at least two options.';
                        return;
                    }
                    try {
                        this.conference().createPoll(question.value.trim(), options);
                        dialog.close();
                    } catch (error) {
                        problem.textContent = error.message;
                    }
                } }, 'Send poll'),
                h('button', { onclick: () => dialog.close() }, 'Cancel')));
        dialog.addEventListener('close', () => dialog.remove());
        parent.append(dialog);
        dialog.showModal();
    }
}
