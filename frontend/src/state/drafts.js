/**
 * Unsaved text — the new-todo box and an open editor's draft — kept in sessionStorage
 * for one user, so that it outlives the list: when the session ends the list goes away
 * for the log-in form, and after logging in again in this tab the text is back (a reload
 * keeps it too). Only this tab sees it, and an explicit log-out forgets it, so the next
 * person at a shared computer does not find it.
 *
 * Stored shape: {userId, newTitle, editing: {id, draft} | null}.
 */
const KEY = 'todolist.unsaved';

function storage() {
  try {
    return typeof sessionStorage === 'undefined' ? null : sessionStorage;
  } catch {
    return null; // Storage disabled by the browser's settings: drafts then live only in memory.
  }
}

/** @returns {{newTitle: string, editing: {id, draft} | null}} this user's unsaved text. */
export function loadDrafts(userId) {
  try {
    const stored = JSON.parse(storage()?.getItem(KEY) || 'null');
    if (!stored || stored.userId !== userId) return { newTitle: '', editing: null };
    const newTitle = typeof stored.newTitle === 'string' ? stored.newTitle : '';
    const editing = stored.editing && typeof stored.editing.draft === 'string' ? stored.editing : null;
    return { newTitle, editing };
  } catch {
    return { newTitle: '', editing: null };
  }
}

export function saveDrafts(userId, { newTitle, editing }) {
  try {
    if (!newTitle && !editing) storage()?.removeItem(KEY);
    else storage()?.setItem(KEY, JSON.stringify({ userId, newTitle, editing: editing && { id: editing.id, draft: editing.draft } }));
  } catch {
    // Full or disabled storage: the text stays on screen; only its copy is lost.
  }
}

/**
 * Keeps text whose save failed because the session ended: by then the list may already be
 * gone, so this writes to storage directly. Text already kept is never overwritten.
 */
export function keepUnsaved(userId, { newTitle, editing }) {
  const current = loadDrafts(userId);
  saveDrafts(userId, {
    newTitle: current.newTitle.trim() ? current.newTitle : newTitle || current.newTitle,
    editing: current.editing || editing || null,
  });
}

export function forgetDrafts() {
  try {
    storage()?.removeItem(KEY);
  } catch {
    // Nothing to forget.
  }
}
