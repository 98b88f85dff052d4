// What the page remembers about this login, for this tab only.

const KEY = 'harbor-default-admin';

export const Session = {
  // admin logged in with Harbor's well-known default password
  setDefaultAdmin(v) {
    try {
      if (v) {
        sessionStorage.setItem(KEY, '1');
      } else {
        sessionStorage.removeItem(KEY);
      }
    } catch {
      // no storage: no banner
    }
  },
  defaultAdmin() {
    try {
      return sessionStorage.getItem(KEY) === '1';
    } catch {
      return false;
    }
  },
  clear() {
    this.setDefaultAdmin(false);
  },
};
