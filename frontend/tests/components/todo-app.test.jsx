import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { TodoApp } from '../../src/components/TodoApp.jsx';
import {
  act,
  allByClass,
  byTestId,
  fakeApi,
  fire,
  items,
  networkError,
  oneByClass,
  queryByClass,
  render,
  serverError,
  settle,
  textOf,
  titles,
  todo,
  typeNewTodo,
} from './helpers.jsx';

const count = (renderer) => textOf(oneByClass(renderer, 'todo-count'));
const alertText = (renderer) => byTestId(renderer, 'error-message').map(textOf).join(' ');
// The message alone, without its buttons' text.
const messageText = (renderer) => oneByClass(renderer, 'notice-text') && textOf(oneByClass(renderer, 'notice-text'));
const itemByTitle = (renderer, title) =>
  items(renderer).find((li) => textOf(li.find((n) => n.props['data-testid'] === 'todo-title')) === title);

describe('TodoApp: loading', () => {
  it('shows a loading state, then the server list', async () => {
    let release;
    const api = fakeApi();
    api.todos.list = () => new Promise((resolve) => (release = resolve));
    const renderer = await render(<TodoApp api={api} filter="all" />);
    assert.equal(byTestId(renderer, 'loading').length, 1);
    await act(async () => release([todo(1, 'Buy milk')]));
    await settle();
    assert.equal(byTestId(renderer, 'loading').length, 0);
    assert.deepEqual(titles(renderer), ['Buy milk']);
  });

  it('says when the API cannot be reached, and retries', async () => {
    const api = fakeApi([todo(1, 'Back again')]);
    const realList = api.todos.list;
    api.todos.list = () => Promise.reject(networkError());
    const renderer = await render(<TodoApp api={api} filter="all" />);
    const problem = byTestId(renderer, 'api-unreachable');
    assert.equal(problem.length, 1);
    assert.match(textOf(problem[0]), /Cannot reach the API at http:\/\/api\.test/);

    api.todos.list = realList;
    await fire(problem[0].findByType('button'), 'onClick');
    assert.deepEqual(titles(renderer), ['Back again']);
  });

  it('hides the list, footer and toggle-all when there are no todos', async () => {
    const renderer = await render(<TodoApp api={fakeApi()} filter="all" />);
    assert.equal(queryByClass(renderer, 'main'), null);
    assert.equal(queryByClass(renderer, 'footer'), null);
    assert.equal(queryByClass(renderer, 'toggle-all'), null);
  });
});

describe('TodoApp: adding', () => {
  it('adds the trimmed title on Enter and clears the input', async () => {
    const api = fakeApi();
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await typeNewTodo(renderer, '  Walk the dog  ');
    assert.deepEqual(titles(renderer), ['Walk the dog']);
    assert.equal(oneByClass(renderer, 'new-todo').props.value, '');
    assert.deepEqual(
      api.calls.filter(([name]) => name === 'todos.create'),
      [['todos.create', { title: 'Walk the dog' }]],
    );
  });

  it('ignores an empty or blank title', async () => {
    const api = fakeApi();
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await typeNewTodo(renderer, '');
    await typeNewTodo(renderer, '   ');
    assert.deepEqual(titles(renderer), []);
    assert.equal(api.calls.filter(([name]) => name === 'todos.create').length, 0);
  });

  it('shows the todo before the server answers, then takes its id', async () => {
    let answer;
    const api = fakeApi();
    api.todos.create = ({ title }) => new Promise((resolve) => (answer = () => resolve({ id: 42, title, completed: false, order: 1 })));
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await typeNewTodo(renderer, 'Optimistic');
    assert.deepEqual(titles(renderer), ['Optimistic']);
    assert.match(items(renderer)[0].props.className, /pending/);

    await act(async () => answer());
    await settle();
    assert.doesNotMatch(items(renderer)[0].props.className, /pending/);
    assert.equal(items(renderer)[0].find((n) => n.props.className === 'toggle').props['aria-labelledby'], 'todo-title-42');
  });

  it('keeps the new-todo input on Enter with an IME composition', async () => {
    const api = fakeApi();
    const renderer = await render(<TodoApp api={api} filter="all" />);
    const input = oneByClass(renderer, 'new-todo');
    await act(async () => input.props.onChange({ target: { value: '東京' } }));
    await fire(input, 'onKeyDown', { key: 'Enter', nativeEvent: { isComposing: true } });
    assert.deepEqual(titles(renderer), []);
  });
});

describe('TodoApp: counter', () => {
  it('says "items" for zero and many, "item" for one', async () => {
    const renderer = await render(<TodoApp api={fakeApi([todo(1, 'a'), todo(2, 'b'), todo(3, 'c', true)])} filter="all" />);
    assert.equal(count(renderer), '2 items left');

    await fire(items(renderer)[0].find((n) => n.props.className === 'toggle'), 'onChange');
    assert.equal(count(renderer), '1 item left');

    await fire(itemByTitle(renderer, 'b').find((n) => n.props.className === 'toggle'), 'onChange');
    assert.equal(count(renderer), '0 items left');
  });
});

describe('TodoApp: editing', () => {
  async function startEditing(renderer, title) {
    const label = itemByTitle(renderer, title).find((n) => n.props['data-testid'] === 'todo-title');
    await fire(label, 'onDoubleClick');
    const editing = allByClass(renderer, 'editing');
    assert.equal(editing.length, 1, 'the item is in editing mode');
    return oneByClass(renderer, 'edit');
  }

  async function typeInto(input, value) {
    await act(async () => input.props.onChange({ target: { value } }));
  }

  it('opens on double-click with the current title', async () => {
    const renderer = await render(<TodoApp api={fakeApi([todo(1, 'Read a book')])} filter="all" />);
    const input = await startEditing(renderer, 'Read a book');
    assert.equal(input.props.value, 'Read a book');
  });

  it('saves the trimmed title on Enter', async () => {
    const api = fakeApi([todo(1, 'Read a book')]);
    const renderer = await render(<TodoApp api={api} filter="all" />);
    const input = await startEditing(renderer, 'Read a book');
    await typeInto(input, '  Read two books ');
    await fire(oneByClass(renderer, 'edit'), 'onKeyDown', { key: 'Enter' });

    assert.deepEqual(titles(renderer), ['Read two books']);
    assert.equal(allByClass(renderer, 'editing').length, 0);
    assert.deepEqual(api.calls.filter(([n]) => n === 'todos.patch'), [['todos.patch', 1, { title: 'Read two books' }]]);
  });

  it('cancels on Escape, keeping the old title and asking nothing of the server', async () => {
    const api = fakeApi([todo(1, 'Read a book')]);
    const renderer = await render(<TodoApp api={api} filter="all" />);
    const input = await startEditing(renderer, 'Read a book');
    await typeInto(input, 'Something else');
    await fire(oneByClass(renderer, 'edit'), 'onKeyDown', { key: 'Escape' });

    assert.deepEqual(titles(renderer), ['Read a book']);
    assert.equal(allByClass(renderer, 'editing').length, 0);
    assert.equal(api.calls.filter(([n]) => n === 'todos.patch').length, 0);
  });

  it('saves once when Enter is followed by a blur', async () => {
    const api = fakeApi([todo(1, 'Old')]);
    const renderer = await render(<TodoApp api={api} filter="all" />);
    const input = await startEditing(renderer, 'Old');
    await typeInto(input, 'New');
    const editor = oneByClass(renderer, 'edit');
    await act(async () => {
      editor.props.onKeyDown({ key: 'Enter', preventDefault() {} });
      editor.props.onBlur();
    });
    await settle();
    assert.equal(api.calls.filter(([n]) => n === 'todos.patch').length, 1);
  });

  it('saves on blur', async () => {
    const api = fakeApi([todo(1, 'Old')]);
    const renderer = await render(<TodoApp api={api} filter="all" />);
    const input = await startEditing(renderer, 'Old');
    await typeInto(input, 'Blurred');
    await fire(oneByClass(renderer, 'edit'), 'onBlur');
    assert.deepEqual(titles(renderer), ['Blurred']);
  });

  it('deletes the todo when the title is emptied', async () => {
    const api = fakeApi([todo(1, 'Doomed'), todo(2, 'Stays')]);
    const renderer = await render(<TodoApp api={api} filter="all" />);
    const input = await startEditing(renderer, 'Doomed');
    await typeInto(input, '   ');
    await fire(oneByClass(renderer, 'edit'), 'onKeyDown', { key: 'Enter' });
    assert.deepEqual(titles(renderer), ['Stays']);
    assert.deepEqual(api.calls.filter(([n]) => n === 'todos.delete'), [['todos.delete', 1]]);
  });

  it('does not call the server when the title did not change', async () => {
    const api = fakeApi([todo(1, 'Same')]);
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await startEditing(renderer, 'Same');
    await fire(oneByClass(renderer, 'edit'), 'onKeyDown', { key: 'Enter' });
    assert.equal(api.calls.filter(([n]) => n === 'todos.patch').length, 0);
  });
});

describe('TodoApp: filters', () => {
  const list = () => [todo(1, 'active one'), todo(2, 'done one', true), todo(3, 'active two')];
  const selected = (renderer) => allByClass(renderer, 'selected').map(textOf);

  it('shows everything under All', async () => {
    const renderer = await render(<TodoApp api={fakeApi(list())} filter="all" />);
    assert.deepEqual(titles(renderer), ['active one', 'done one', 'active two']);
    assert.deepEqual(selected(renderer), ['All']);
  });

  it('shows only open todos under Active', async () => {
    const renderer = await render(<TodoApp api={fakeApi(list())} filter="active" />);
    assert.deepEqual(titles(renderer), ['active one', 'active two']);
    assert.deepEqual(selected(renderer), ['Active']);
  });

  it('shows only completed todos under Completed', async () => {
    const renderer = await render(<TodoApp api={fakeApi(list())} filter="completed" />);
    assert.deepEqual(titles(renderer), ['done one']);
    assert.deepEqual(selected(renderer), ['Completed']);
  });

  it('links to the hash routes, so the filter survives a reload', async () => {
    const renderer = await render(<TodoApp api={fakeApi(list())} filter="all" />);
    const hrefs = oneByClass(renderer, 'filters').findAllByType('a').map((a) => a.props.href);
    assert.deepEqual(hrefs, ['#/', '#/active', '#/completed']);
  });

  it('takes a todo out of the Active view when it is completed', async () => {
    const renderer = await render(<TodoApp api={fakeApi(list())} filter="active" />);
    await fire(itemByTitle(renderer, 'active one').find((n) => n.props.className === 'toggle'), 'onChange');
    assert.deepEqual(titles(renderer), ['active two']);
  });
});

describe('TodoApp: completing and clearing', () => {
  it('toggles one todo', async () => {
    const api = fakeApi([todo(1, 'a')]);
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await fire(oneByClass(renderer, 'toggle'), 'onChange');
    assert.match(items(renderer)[0].props.className, /completed/);
    assert.deepEqual(api.calls.filter(([n]) => n === 'todos.patch'), [['todos.patch', 1, { completed: true }]]);
  });

  it('toggles all, and the toggle-all box follows', async () => {
    const api = fakeApi([todo(1, 'a'), todo(2, 'b', true)]);
    const renderer = await render(<TodoApp api={api} filter="all" />);
    const toggleAll = oneByClass(renderer, 'toggle-all');
    assert.equal(toggleAll.props.checked, false);
    await fire(toggleAll, 'onChange', { target: { checked: true } });
    assert.equal(items(renderer).every((li) => /completed/.test(li.props.className)), true);
    assert.equal(oneByClass(renderer, 'toggle-all').props.checked, true);
    assert.deepEqual(api.calls.filter(([n]) => n === 'todos.toggleAll'), [['todos.toggleAll', true]]);
  });

  it('hides "Clear completed" until something is completed, then clears', async () => {
    const api = fakeApi([todo(1, 'a'), todo(2, 'b')]);
    const renderer = await render(<TodoApp api={api} filter="all" />);
    assert.equal(queryByClass(renderer, 'clear-completed'), null);

    await fire(items(renderer)[0].find((n) => n.props.className === 'toggle'), 'onChange');
    await fire(oneByClass(renderer, 'clear-completed'), 'onClick');
    assert.deepEqual(titles(renderer), ['b']);
    assert.equal(queryByClass(renderer, 'clear-completed'), null);
  });

  it('deletes with the destroy button', async () => {
    const api = fakeApi([todo(1, 'a'), todo(2, 'b')]);
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await fire(itemByTitle(renderer, 'a').find((n) => n.props.className === 'destroy'), 'onClick');
    assert.deepEqual(titles(renderer), ['b']);
  });
});

describe('TodoApp: rollback when the server refuses', () => {
  it('removes an added todo again and says why', async () => {
    const api = fakeApi();
    api.todos.create = () => Promise.reject(serverError(400, 'invalid_title', 'The title is too long.'));
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await typeNewTodo(renderer, 'Too long');
    assert.deepEqual(titles(renderer), []);
    assert.match(alertText(renderer), /Could not add “Too long”: The title is too long\./);
  });

  it('un-toggles a todo', async () => {
    const api = fakeApi([todo(1, 'a')]);
    api.todos.patch = () => Promise.reject(networkError());
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await fire(oneByClass(renderer, 'toggle'), 'onChange');
    assert.doesNotMatch(items(renderer)[0].props.className || '', /completed/);
    assert.equal(count(renderer), '1 item left');
    assert.match(alertText(renderer), /Could not update “a”: The server at http:\/\/api\.test could not be reached\./);
  });

  it('restores the old title after a refused edit, and opens the editor again with the draft', async () => {
    const api = fakeApi([todo(1, 'Original')]);
    api.todos.patch = () => Promise.reject(serverError(400, 'invalid_title', 'Titles cannot contain NUL.'));
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await fire(items(renderer)[0].find((n) => n.props['data-testid'] === 'todo-title'), 'onDoubleClick');
    await act(async () => oneByClass(renderer, 'edit').props.onChange({ target: { value: 'Changed' } }));
    await fire(oneByClass(renderer, 'edit'), 'onKeyDown', { key: 'Enter' });
    // The draft is not lost: the editor is open again with it, over the todo's old title.
    const editor = oneByClass(renderer, 'edit');
    assert.equal(editor.props.value, 'Changed');
    assert.equal(editor.props['aria-label'], 'Edit “Original”');
    assert.match(alertText(renderer), /Could not rename “Original”/);
    await fire(editor, 'onKeyDown', { key: 'Escape' });
    assert.deepEqual(titles(renderer), ['Original']);
  });

  it('puts a deleted todo back in its place', async () => {
    const api = fakeApi([todo(1, 'first'), todo(2, 'second'), todo(3, 'third')]);
    api.todos.delete = () => Promise.reject(serverError(500, 'internal_error', 'Something went wrong.'));
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await fire(itemByTitle(renderer, 'second').find((n) => n.props.className === 'destroy'), 'onClick');
    assert.deepEqual(titles(renderer), ['first', 'second', 'third']);
    assert.match(alertText(renderer), /Could not delete “second”/);
  });

  it('undoes toggle-all', async () => {
    const api = fakeApi([todo(1, 'a'), todo(2, 'b', true)]);
    api.todos.toggleAll = () => Promise.reject(networkError());
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await fire(oneByClass(renderer, 'toggle-all'), 'onChange', { target: { checked: true } });
    assert.deepEqual(items(renderer).map((li) => /completed/.test(li.props.className || '')), [false, true]);
    assert.match(alertText(renderer), /Could not complete all todos/);
  });

  it('brings cleared todos back', async () => {
    const api = fakeApi([todo(1, 'a', true), todo(2, 'b'), todo(3, 'c', true)]);
    api.todos.clearCompleted = () => Promise.reject(networkError());
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await fire(oneByClass(renderer, 'clear-completed'), 'onClick');
    assert.deepEqual(titles(renderer), ['a', 'b', 'c']);
    assert.match(alertText(renderer), /Could not clear completed todos/);
  });

  it('lets the message be dismissed', async () => {
    const api = fakeApi();
    api.todos.create = () => Promise.reject(networkError());
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await typeNewTodo(renderer, 'x');
    await fire(oneByClass(renderer, 'notice-dismiss'), 'onClick');
    assert.equal(alertText(renderer), '');
  });

  it('leaves a 401 to the app instead of showing a message', async () => {
    const api = fakeApi();
    api.todos.create = () => Promise.reject(serverError(401, 'not_authenticated', 'Log in first.'));
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await typeNewTodo(renderer, 'x');
    assert.deepEqual(titles(renderer), []);
    assert.equal(alertText(renderer), '');
  });
});

describe('TodoApp: typed text is never lost', () => {
  it('puts the title of a failed add back in the input', async () => {
    const api = fakeApi();
    api.todos.create = () => Promise.reject(networkError());
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await typeNewTodo(renderer, '  An idea  ');
    assert.deepEqual(titles(renderer), []);
    assert.equal(oneByClass(renderer, 'new-todo').props.value, 'An idea');
  });

  it('leaves the input alone when the person has typed something else since', async () => {
    let fail;
    const api = fakeApi();
    api.todos.create = () => new Promise((_, reject) => (fail = () => reject(networkError())));
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await typeNewTodo(renderer, 'First');
    await act(async () => oneByClass(renderer, 'new-todo').props.onChange({ target: { value: 'Second' } }));
    await act(async () => fail());
    await settle();
    assert.equal(oneByClass(renderer, 'new-todo').props.value, 'Second');
    assert.equal(byTestId(renderer, 'error-message').length, 1, 'the failure and its Retry keep “First”');
  });

  it('keeps the whole text of a refused add in a notice when the person has typed something else since', async () => {
    const long = 'First, a long thought that does not fit in the short quote of a message';
    let refuse;
    const api = fakeApi();
    api.todos.create = () =>
      new Promise((_, reject) => (refuse = () => reject(serverError(409, 'too_many_todos', 'You have too many todos.'))));
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await typeNewTodo(renderer, long);
    await act(async () => oneByClass(renderer, 'new-todo').props.onChange({ target: { value: 'Second' } }));
    await act(async () => refuse());
    await settle();
    assert.equal(oneByClass(renderer, 'new-todo').props.value, 'Second');
    const [kept] = byTestId(renderer, 'unadded');
    assert.ok(kept, 'a notice keeps the text');
    assert.ok(textOf(kept).includes(long), textOf(kept));
    await fire(kept.find((n) => n.props.className === 'notice-dismiss'), 'onClick');
    assert.equal(byTestId(renderer, 'unadded').length, 0);
  });

  it('stops the inputs at 500 characters, counting an emoji as one, with a counter from 450', async () => {
    const renderer = await render(<TodoApp api={fakeApi([todo(1, 'x')])} filter="all" />);
    const type = (value) => act(async () => oneByClass(renderer, 'new-todo').props.onChange({ target: { value } }));
    await type('a'.repeat(449));
    assert.equal(queryByClass(renderer, 'title-counter'), null);
    await type('a'.repeat(450));
    assert.equal(textOf(oneByClass(renderer, 'title-counter')), '450/500 characters');
    await type('😀'.repeat(520));
    assert.equal(Array.from(oneByClass(renderer, 'new-todo').props.value).length, 500);
    assert.equal(textOf(oneByClass(renderer, 'title-counter')), '500/500 characters');
    assert.equal(oneByClass(renderer, 'new-todo').props['aria-describedby'], 'new-todo-counter');

    await fire(items(renderer)[0].find((n) => n.props['data-testid'] === 'todo-title'), 'onDoubleClick');
    await act(async () => oneByClass(renderer, 'edit').props.onChange({ target: { value: 'b'.repeat(600) } }));
    assert.equal(oneByClass(renderer, 'edit').props.value.length, 500);
  });
});

describe('TodoApp: the 500-character limit counts as the server does, after trimming', () => {
  it('lets white space around a 500-character title be typed, and cuts only the title itself', async () => {
    const renderer = await render(<TodoApp api={fakeApi([todo(1, 'x')])} filter="all" />);
    const newTodo = () => oneByClass(renderer, 'new-todo');
    const type = (value) => act(async () => newTodo().props.onChange({ target: { value } }));
    await type(`  ${'a'.repeat(500)} `);
    assert.equal(newTodo().props.value, `  ${'a'.repeat(500)} `);
    assert.equal(textOf(oneByClass(renderer, 'title-counter')), '500/500 characters');
    await type(`  ${'a'.repeat(505)}`);
    assert.equal(newTodo().props.value, `  ${'a'.repeat(500)}`);

    await fire(items(renderer)[0].find((n) => n.props['data-testid'] === 'todo-title'), 'onDoubleClick');
    await act(async () => oneByClass(renderer, 'edit').props.onChange({ target: { value: ` ${'b'.repeat(500)}` } }));
    assert.equal(oneByClass(renderer, 'edit').props.value, ` ${'b'.repeat(500)}`);
  });
});

describe('TodoApp: the failure message', () => {
  it('quotes a short excerpt of a long title', async () => {
    const api = fakeApi();
    api.todos.create = () => Promise.reject(networkError());
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await typeNewTodo(renderer, `Start ${'x'.repeat(400)} end`);
    const text = alertText(renderer);
    assert.match(text, /^Could not add “Start x+…”: The server at http:\/\/api\.test could not be reached\./);
    assert.ok(text.length < 160, text);
  });

  it('reads as one message for a burst of failures, saying how many', async () => {
    const api = fakeApi([todo(1, 'a'), todo(2, 'b'), todo(3, 'c')]);
    api.todos.patch = () => Promise.reject(networkError());
    const renderer = await render(<TodoApp api={api} filter="all" />);
    for (const li of items(renderer)) await fire(li.find((n) => n.props.className === 'toggle'), 'onChange');
    assert.equal(byTestId(renderer, 'error-message').length, 1);
    assert.equal(messageText(renderer), '3 changes could not be saved: The server at http://api.test could not be reached.');
  });

  it('names the last failure when the causes differ', async () => {
    const api = fakeApi([todo(1, 'a'), todo(2, 'b')]);
    api.todos.patch = () => Promise.reject(networkError());
    api.todos.delete = () => Promise.reject(serverError(500, 'internal_error', 'Something went wrong.'));
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await fire(items(renderer)[0].find((n) => n.props.className === 'toggle'), 'onChange');
    await fire(itemByTitle(renderer, 'b').find((n) => n.props.className === 'destroy'), 'onClick');
    assert.equal(messageText(renderer), '2 changes could not be saved. The last one: Could not delete “b”: Something went wrong.');
  });

  it('clears after a later change succeeds, but not for a success that started before the failure', async () => {
    let answerSlowly;
    const api = fakeApi([todo(1, 'a'), todo(2, 'b'), todo(3, 'c')]);
    api.todos.patch = (id, changes) =>
      id === 1
        ? new Promise((resolve) => (answerSlowly = () => resolve({ id, ...changes })))
        : Promise.reject(networkError());
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await fire(itemByTitle(renderer, 'a').find((n) => n.props.className === 'toggle'), 'onChange'); // slow, succeeds
    await fire(itemByTitle(renderer, 'b').find((n) => n.props.className === 'toggle'), 'onChange'); // fails
    await act(async () => answerSlowly());
    await settle();
    assert.match(alertText(renderer), /Could not update “b”/, 'a success that was already on its way says nothing');

    api.todos.patch = async (id, changes) => ({ id, ...changes });
    await fire(itemByTitle(renderer, 'c').find((n) => n.props.className === 'toggle'), 'onChange');
    assert.equal(alertText(renderer), '');
  });

  it('offers Retry when the server could not be reached, and sends the failed changes again', async () => {
    const api = fakeApi([todo(1, 'a')]);
    api.todos.create = () => Promise.reject(networkError());
    api.todos.patch = () => Promise.reject(networkError());
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await typeNewTodo(renderer, 'New one');
    await fire(itemByTitle(renderer, 'a').find((n) => n.props.className === 'toggle'), 'onChange');
    assert.equal(oneByClass(renderer, 'new-todo').props.value, 'New one');

    api.todos.create = async ({ title }) => ({ id: 7, title, completed: false, order: 7 });
    api.todos.patch = async (id, changes) => ({ id, ...changes });
    const retry = byTestId(renderer, 'error-message')[0].find((n) => n.type === 'button' && textOf(n) === 'Retry');
    await fire(retry, 'onClick');
    assert.equal(alertText(renderer), '');
    assert.deepEqual(titles(renderer), ['a', 'New one']);
    assert.match(itemByTitle(renderer, 'a').props.className, /completed/);
    assert.equal(oneByClass(renderer, 'new-todo').props.value, '', 'the text went out with the retry');
  });

  it('offers no Retry when the server refused the change itself', async () => {
    const api = fakeApi();
    api.todos.create = () => Promise.reject(serverError(400, 'invalid_title', 'Titles cannot contain NUL.'));
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await typeNewTodo(renderer, 'x');
    const buttons = byTestId(renderer, 'error-message')[0].findAll((n) => n.type === 'button').map(textOf);
    assert.deepEqual(buttons, ['×']);
  });
});

describe('TodoApp: unsaved text outlives the list (session ended, reload)', () => {
  function installSessionStorage() {
    const data = new Map();
    globalThis.sessionStorage = {
      getItem: (key) => (data.has(key) ? data.get(key) : null),
      setItem: (key, value) => data.set(key, String(value)),
      removeItem: (key) => data.delete(key),
    };
    return data;
  }

  it('brings back the new-todo text and an open editor for the same user only', async () => {
    installSessionStorage();
    try {
      const api = fakeApi([todo(1, 'Keep')]);
      const first = await render(<TodoApp api={api} filter="all" userId={7} />);
      await act(async () => oneByClass(first, 'new-todo').props.onChange({ target: { value: 'Half-typed' } }));
      await fire(items(first)[0].find((n) => n.props['data-testid'] === 'todo-title'), 'onDoubleClick');
      await act(async () => oneByClass(first, 'edit').props.onChange({ target: { value: 'Keep, renamed' } }));
      await act(async () => first.unmount());

      const again = await render(<TodoApp api={api} filter="all" userId={7} />);
      assert.equal(oneByClass(again, 'new-todo').props.value, 'Half-typed');
      assert.equal(oneByClass(again, 'edit').props.value, 'Keep, renamed');
      await act(async () => again.unmount());

      const someoneElse = await render(<TodoApp api={api} filter="all" userId={8} />);
      assert.equal(oneByClass(someoneElse, 'new-todo').props.value, '');
      assert.equal(queryByClass(someoneElse, 'edit'), null);
    } finally {
      delete globalThis.sessionStorage;
    }
  });

  it('keeps the title of an add refused with 401, even once the list is gone', async () => {
    installSessionStorage();
    try {
      let refuse;
      const api = fakeApi();
      api.todos.create = () => new Promise((_, reject) => (refuse = () => reject(serverError(401, 'not_authenticated', 'Log in.'))));
      const first = await render(<TodoApp api={api} filter="all" userId={7} />);
      await typeNewTodo(first, 'Sent as the session ended');
      await act(async () => first.unmount()); // the app swaps the list for the log-in form
      await act(async () => refuse());
      await settle();

      const again = await render(<TodoApp api={fakeApi()} filter="all" userId={7} />);
      assert.equal(oneByClass(again, 'new-todo').props.value, 'Sent as the session ended');
    } finally {
      delete globalThis.sessionStorage;
    }
  });
});

describe('TodoApp: a todo deleted elsewhere', () => {
  const gone = () => serverError(404, 'not_found', 'No such todo.');

  it('says nothing when deleting it: the goal is reached', async () => {
    const api = fakeApi([todo(1, 'a'), todo(2, 'b')]);
    api.todos.delete = () => Promise.reject(gone());
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await fire(itemByTitle(renderer, 'a').find((n) => n.props.className === 'destroy'), 'onClick');
    assert.deepEqual(titles(renderer), ['b']);
    assert.equal(alertText(renderer), '');
  });

  it('takes it off the list when changing it, and says why, without Retry', async () => {
    const api = fakeApi([todo(1, 'a'), todo(2, 'b')]);
    api.todos.patch = () => Promise.reject(gone());
    const renderer = await render(<TodoApp api={api} filter="all" />);
    await fire(itemByTitle(renderer, 'a').find((n) => n.props.className === 'toggle'), 'onChange');
    assert.deepEqual(titles(renderer), ['b']);
    assert.equal(messageText(renderer), '“a” no longer exists: it was deleted, perhaps in another tab or device.');
    assert.deepEqual(byTestId(renderer, 'error-message')[0].findAll((n) => n.type === 'button').map(textOf), ['×']);
  });
});

/**
 * A fake API over one list held as the server would hold it: each call changes that list when
 * it reaches the "server", in the order the calls arrive. `hold(name)` makes the next call of
 * `todos.<name>` wait until the returned function is called (a slow link): the change reaches
 * the server only then, and `release(error)` fails it instead, changing nothing.
 */
function serverModel(initial) {
  const server = initial.map((t) => ({ ...t }));
  const api = fakeApi();
  const held = {};
  const arrive = (name, apply) => (...args) => {
    const reach = () => apply(...args);
    if (!held[name]) return Promise.resolve().then(reach);
    const gate = held[name];
    delete held[name];
    return new Promise((resolve, reject) => gate.push((error) => (error ? reject(error) : resolve(reach()))));
  };
  api.todos.list = arrive('list', () => server.map((t) => ({ ...t })));
  api.todos.patch = arrive('patch', (id, changes) => {
    const found = server.find((t) => t.id === id);
    Object.assign(found, changes);
    return { ...found };
  });
  api.todos.clearCompleted = arrive('clearCompleted', () => {
    const before = server.length;
    server.splice(0, server.length, ...server.filter((t) => !t.completed));
    return before - server.length;
  });
  const hold = (name) => {
    const gate = [];
    held[name] = gate;
    return async (error) => {
      await act(async () => gate.forEach((release) => release(error)));
      await settle();
    };
  };
  return { api, server, hold };
}

describe('TodoApp: changes reach the server in the order they were made', () => {
  /** Completes "a" on a slow link, then clears completed at once ("b" already is). */
  async function toggleThenClear() {
    const { api, server, hold } = serverModel([todo(1, 'a'), todo(2, 'b', true)]);
    const renderer = await render(<TodoApp api={api} filter="all" />);
    const release = hold('patch');
    await fire(itemByTitle(renderer, 'a').find((n) => n.props.className === 'toggle'), 'onChange');
    await fire(oneByClass(renderer, 'clear-completed'), 'onClick');
    return { renderer, server, release };
  }

  it('"Clear completed" right after a toggle, on a slow link, clears the todo just completed', async () => {
    const { renderer, server, release } = await toggleThenClear();
    assert.deepEqual(titles(renderer), []);
    await release();
    await settle();
    assert.deepEqual(server, [], 'the server cleared both, as the person asked');
    assert.deepEqual(titles(renderer), []);
  });

  it('a toggle that fails before "Clear completed" leaves its todo on the list, as it is on the server', async () => {
    const { renderer, server, release } = await toggleThenClear();
    await release(serverError(500, 'internal_error', 'Something went wrong.'));
    await settle();
    assert.deepEqual(server.map((t) => t.title), ['a']);
    assert.deepEqual(titles(renderer), ['a'], 'shown as the server has it');
    assert.doesNotMatch(itemByTitle(renderer, 'a').props.className || '', /completed/);
  });

  it('"Mark all as complete" right after a toggle is sent after it', async () => {
    const { api, hold } = serverModel([todo(1, 'a'), todo(2, 'b')]);
    const order = [];
    const patch = api.todos.patch;
    api.todos.patch = (...args) => patch(...args).then((saved) => (order.push('patch'), saved));
    api.todos.toggleAll = async () => (order.push('toggleAll'), 2);
    const renderer = await render(<TodoApp api={api} filter="all" />);
    const release = hold('patch');
    await fire(itemByTitle(renderer, 'a').find((n) => n.props.className === 'toggle'), 'onChange');
    await fire(oneByClass(renderer, 'toggle-all'), 'onChange', { target: { checked: true } });
    assert.deepEqual(order, []);
    await release();
    await settle();
    assert.deepEqual(order, ['patch', 'toggleAll']);
  });
});
